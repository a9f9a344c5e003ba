/**
 * `runDemo()`: the whole ARR pipeline on the embedded default (tiny-cpu), offline, on CPU.
 *
 * 1. start the offline referee once (a rule-based reference judge, not a VLM);
 * 2. induce a rubric from the bundled seed pairs (assets/seeds/);
 * 3. evaluate the judge with vs without the rubric on held-out labelled pairs (eval report);
 * 4. RPO-train the tiny FLUX under the induced rubric with torchrun workers;
 * 5. measure the trained LoRA's win rate over the base model on held-out prompts with the same
 *    seeds, both presentation orders, under the same judge;
 * 6. write demo.json and report.html (training curves, grids, rubric, the comparison and the win rate).
 *
 * Everything lands in `<output_dir>/demo-<time>/`. Nothing here is hard-coded about the outcome: the
 * win rate is what the judge said about the images the two models produced.
 */
import { existsSync, readFileSync } from "node:fs";
import { appendFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { loadConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { loadPairs } from "../data/pairs.js";
import { parseTextPrompts } from "../data/training-prompts.js";
import { ConfigError } from "../errors.js";
import { type ComparisonResult, compare, formatComparisonTable } from "../eval/compare.js";
import { writeEvalOutputs } from "../eval/report.js";
import { createJudge } from "../judge/judge.js";
import { induceRubrics } from "../rubrics/induce.js";
import { type LoadedRubric, loadRubric, saveRubric } from "../rubrics/rubric.js";
import { type Bridge, createBridge } from "../runtime/bridge.js";
import { packageRoot } from "../runtime/python.js";
import { writeTrainReport } from "../train/report/index.js";
import { latestLora, type RunPaths, runStamp } from "../train/run-dir.js";
import { type TrainProgress, type TrainResult, train } from "../train/train.js";
import { type WinrateResult, winrate } from "../train/winrate.js";
import { escapeHtml } from "../util/html.js";
import { openVlm } from "../vlm/client.js";
import { hashBytes } from "../vlm/images.js";
import { UsageMeter } from "../vlm/usage.js";
import { writeHeldoutPairs } from "./heldout.js";

/** The stages the demo reports through `onStage`, in order. */
export type DemoStage = "judge" | "induce" | "evaluate" | "train" | "winrate" | "control" | "report";

export interface DemoOptions {
  /** The resolved config (default: the tiny-cpu preset). Its `train` section must be present. */
  config?: Config;
  /** `--set` style overrides applied on top of the tiny-cpu preset when `config` is not given. */
  set?: string[];
  /** Parent of the demo directory (default: the config's `run.output_dir`). */
  outputDir?: string;
  /** Labelled seed pairs for induction (default: the bundled assets/seeds/seeds.jsonl). */
  seeds?: string;
  /** Held-out prompts for the win rate, one per line (default: configs/data/tiny-heldout.txt). */
  heldoutPrompts?: string;
  /** Held-out labelled pairs generated for the judge evaluation (default 16). */
  heldoutPairs?: number;
  /**
   * Also train a control run with the judge's verdicts reversed (same config, judge, reward scale,
   * seeds and updates; only the direction of each verdict differs: `train({ reverseVerdicts })`) and
   * measure its win rate the same way (default true). Learning that comes from the judge moves the
   * two runs in opposite directions; drift that would happen under any judge does not.
   */
  control?: boolean;
  /** Aborting asks the training workers to checkpoint and stop; later stages are skipped. */
  signal?: AbortSignal;
  killSignal?: AbortSignal;
  /** One line per stage as it starts (the CLI prints these on stderr). */
  onStage?: (stage: DemoStage, message: string) => void;
  onTrainProgress?: (progress: TrainProgress) => void;
  /** Worker log lines and notices. */
  onLog?: (line: string) => void;
}

export interface DemoResult {
  /** `<output_dir>/demo-<time>` */
  dir: string;
  /** The judge used throughout (the referee says it is rule-based, not a VLM). */
  judge: { provider: string; model: string; ruleBased: boolean };
  rubric: { file: string; hash: string; criteria: number; themes: number; passed: number; pairs: number };
  /** Preference accuracy on the held-out labelled pairs, without and with the rubric. */
  evaluation: { report: string; direct: number; withRubric: number; table: string };
  training: { runDir: string; updates: number; stopReason: string | null; report: string };
  /**
   * Win rate of the trained LoRA over the base model on the held-out prompts (same seeds, both
   * orders); null when training stopped before producing a checkpoint.
   */
  winrate: (Omit<WinrateResult, "images"> & { lora: string }) | null;
  /** The control run (verdicts reversed during training), measured under the unreversed judge. */
  control: {
    runDir: string;
    updates: number;
    winrate: (Omit<WinrateResult, "images"> & { lora: string }) | null;
  } | null;
  /** demo.json and the demo's report.html */
  files: { summary: string; report: string };
  seconds: { total: number } & Partial<Record<DemoStage, number>>;
}

/** The package's default demo inputs. */
export function demoDefaults(): { seeds: string; heldoutPrompts: string } {
  const root = packageRoot();
  return {
    seeds: join(root, "assets", "seeds", "seeds.jsonl"),
    heldoutPrompts: join(root, "configs", "data", "tiny-heldout.txt"),
  };
}

export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const started = performance.now();
  const seconds: DemoResult["seconds"] = { total: 0 };
  const clock: { stage: DemoStage | null; since: number } = { stage: null, since: started };
  const lap = () => {
    const now = performance.now();
    if (clock.stage) seconds[clock.stage] = (now - clock.since) / 1000;
    clock.since = now;
  };
  const stage = (next: DemoStage, message: string) => {
    lap();
    clock.stage = next;
    options.onStage?.(next, message);
  };

  const config =
    options.config ??
    (await loadConfig({ preset: "tiny-cpu", ...(options.set ? { set: options.set } : {}) })).config;
  if (!config.train) {
    throw new ConfigError("the demo needs a config with a train section", { path: "train" });
  }
  if (!config.vlm) throw new ConfigError("the demo needs a vlm section (tiny-cpu uses the referee)");
  const defaults = demoDefaults();
  const seedsFile = resolve(options.seeds ?? defaults.seeds);
  const promptsFile = resolve(options.heldoutPrompts ?? defaults.heldoutPrompts);
  const heldoutPrompts = readPrompts(promptsFile);
  const dir = resolve(options.outputDir ?? config.run.output_dir, `demo-${runStamp(new Date())}`);
  await mkdir(dir, { recursive: true });
  // Verdicts of this demo are cached inside it: a rerun starts fresh, as a demo should.
  const judgeConfig = { ...config.judge, cache_dir: join(dir, "cache", "verdicts") };

  // 1. the judge, once for every stage
  const meter = new UsageMeter({ price: config.vlm.price, budget: config.judge.budget });
  const vlm = await openVlm(config, { meter });
  const ruleBased = config.vlm.provider === "referee";
  stage(
    "judge",
    ruleBased
      ? `judge: the offline referee at ${vlm.config.base_url}, a rule-based reference judge that ranks images by explicit pixel criteria named in the rubric; it is NOT a VLM`
      : `judge: ${config.vlm.model} at ${vlm.config.base_url}`,
  );
  // Started on first use (the win rate); held in an object so `finally` sees the assignment.
  const python: { bridge: Bridge | null } = { bridge: null };
  try {
    // 2. rubric induction from the seed pairs
    stage("induce", `inducing a rubric from ${relativeTo(seedsFile)}`);
    const seeds = await loadPairs(seedsFile, { task: config.induction.task });
    const induced = await induceRubrics({
      vlm: vlm.client,
      pairs: seeds.pairs,
      config: config.induction,
      judge: judgeConfig,
      image: vlm.config.image,
      cache: join(dir, "cache", "induction"),
      seeds: { file: seedsFile, sha256: hashBytes(await readFile(seedsFile)) },
      price: vlm.config.price,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const rubricFile = join(dir, "rubric.yaml");
    await saveRubric(rubricFile, induced.rubric);
    const rubric = await loadRubric(rubricFile);
    const stats = induced.stats;

    // 3. judge evaluation with vs without the rubric on held-out labelled pairs
    stage("evaluate", "evaluating the judge with vs without the rubric on held-out labelled pairs");
    const pairsFile = await writeHeldoutPairs(join(dir, "heldout-pairs"), {
      pairs: options.heldoutPairs ?? 16,
    });
    const { pairs } = await loadPairs(pairsFile, { task: config.judge.task });
    const judgeWith = (r: LoadedRubric | null) =>
      createJudge({
        vlm: vlm.client,
        config: judgeConfig,
        image: vlm.config.image,
        rubric: r ? { text: r.text, hash: r.hash } : null,
        cacheDir: judgeConfig.cache_dir,
        meter,
      });
    const evalDir = join(dir, "eval");
    await mkdir(evalDir, { recursive: true });
    const comparison: ComparisonResult = await compare({
      pairs,
      variants: [
        { name: "direct", judge: judgeWith(null) },
        { name: "+ARR", judge: judgeWith(rubric) },
      ],
      bootstrap: { seed: 0, resamples: 1000 },
      onJudgement: (record) => appendFile(join(evalDir, "verdicts.jsonl"), `${JSON.stringify(record)}\n`),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const written = await writeEvalOutputs(evalDir, {
      results: comparison.rows.map((r) => r.result),
      comparison,
      rubrics: { direct: null, "+ARR": { file: rubricFile, text: rubric.text, hash: rubric.hash } },
      dataset: { file: pairsFile, format: "reference" },
      title: "demo: judge accuracy on held-out pairs, without and with the induced rubric",
    });
    const table = formatComparisonTable(comparison);
    const accuracy = (name: string) =>
      comparison.rows.find((r) => r.name === name)?.result.summary.accuracy ?? Number.NaN;

    // 4. RPO training under the induced rubric
    const trainConfig: Config = {
      ...config,
      judge: { ...judgeConfig, rubric_file: rubricFile },
    };
    const tc = config.train;
    stage(
      "train",
      `RPO of the tiny FLUX (${tc.model.path}) under the induced rubric: ${tc.max_steps} updates on ${tc.distributed.nproc_per_node} CPU workers (torchrun, ${tc.distributed.backend})`,
    );
    // The control (5b) makes this very call with reverseVerdicts: nothing else may differ.
    const trainRun = (folder: string, reverseVerdicts: boolean): Promise<TrainResult> =>
      train({
        config: trainConfig,
        runDir: join(dir, folder),
        vlm,
        reverseVerdicts,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.killSignal ? { killSignal: options.killSignal } : {}),
        ...(options.onTrainProgress ? { onProgress: options.onTrainProgress } : {}),
        ...(options.onLog ? { onLog: options.onLog } : {}),
      });
    const trained = await trainRun("train", false);

    // 5. win rate of the trained LoRA over the base model on held-out prompts
    const measure = async (lora: string, tag: string): Promise<NonNullable<DemoResult["winrate"]>> => {
      python.bridge ??= await createBridge();
      const result = await winrate({
        bridge: python.bridge,
        judge: judgeWith(rubric),
        train: tc,
        a: { lora },
        b: "base",
        prompts: heldoutPrompts,
        outDir: join(dir, tag),
      });
      await writeFile(
        join(dir, tag, "images.json"),
        `${JSON.stringify({ prompts: heldoutPrompts, lora: result.images.a, base: result.images.b }, null, 2)}\n`,
      );
      const { images: _images, ...rest } = result;
      return { ...rest, lora };
    };
    let measured: DemoResult["winrate"] = null;
    const lora = latestLora(trained.paths.checkpoints);
    if (lora && !options.signal?.aborted) {
      stage(
        "winrate",
        `win rate of the trained LoRA over the base model on ${heldoutPrompts.length} held-out prompts (same seeds, both orders)`,
      );
      measured = await measure(lora, "winrate");
    }

    // 5b. the control: the same training with every verdict reversed
    let control: DemoResult["control"] = null;
    let controlPaths: RunPaths | null = null;
    if (options.control !== false && measured && !options.signal?.aborted) {
      stage("control", "control: the same training with the judge's verdicts reversed");
      const run = await trainRun("control", true);
      controlPaths = run.paths;
      const controlLora = latestLora(run.paths.checkpoints);
      control = {
        runDir: run.runDir,
        updates: run.updates,
        winrate:
          controlLora && !options.signal?.aborted ? await measure(controlLora, "control-winrate") : null,
      };
    }

    // 6. demo.json and the report
    stage("report", "writing the report");
    const reportFile = await writeTrainReport(trained.paths, {
      config: trainConfig,
      rubric,
      winrate: measured
        ? {
            rate: measured.rate,
            low: measured.interval.low,
            high: measured.interval.high,
            pairs: measured.prompts,
          }
        : null,
      label: "trained",
      overlays: controlPaths ? [{ label: "control (verdicts reversed)", paths: controlPaths }] : [],
      intro: demoSection({
        ruleBased,
        table,
        evalReport: relative(dir, written.html),
        stats,
        measured,
        control,
      }),
      title: "autorubric demo: induce a rubric, judge with it, train with it",
      out: join(dir, "report.html"),
    });
    lap();
    seconds.total = (performance.now() - started) / 1000;
    const result: DemoResult = {
      dir,
      judge: { provider: config.vlm.provider, model: config.vlm.model, ruleBased },
      rubric: {
        file: rubricFile,
        hash: rubric.hash,
        criteria: rubric.rubric.criteria.length,
        themes: rubric.rubric.themes.length,
        passed: (stats?.passed_first_time ?? 0) + (stats?.passed_after_refinement ?? 0),
        pairs: stats?.pairs ?? seeds.pairs.length,
      },
      evaluation: { report: written.html, direct: accuracy("direct"), withRubric: accuracy("+ARR"), table },
      training: {
        runDir: trained.runDir,
        updates: trained.updates,
        stopReason: trained.stopReason,
        report: trained.paths.report,
      },
      winrate: measured,
      control,
      files: { summary: join(dir, "demo.json"), report: reportFile },
      seconds,
    };
    await writeFile(result.files.summary, `${JSON.stringify(result, null, 2)}\n`);
    return result;
  } finally {
    await python.bridge?.close();
    await vlm.close();
  }
}

function readPrompts(file: string): string[] {
  if (!existsSync(file)) {
    throw new ConfigError(`${file}: held-out prompts file not found`, {
      hint: "give a text file with one prompt per line",
    });
  }
  const prompts = parseTextPrompts(readFileSync(file, "utf8")).map((row) => row.prompt);
  if (prompts.length === 0) throw new ConfigError(`${file}: no prompts`, { hint: "one prompt per line" });
  return prompts;
}

function relativeTo(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel.startsWith("..") ? file : rel;
}

function demoSection(input: {
  ruleBased: boolean;
  table: string;
  evalReport: string;
  stats: { pairs: number; passed_first_time: number; passed_after_refinement: number } | null;
  measured: DemoResult["winrate"];
  control: DemoResult["control"];
}): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const w = input.measured;
  return `<h2>Demo</h2>
${input.ruleBased ? "<p><strong>The judge is the offline referee: a rule-based reference judge that ranks images by explicit pixel criteria named in the rubric. It is not a VLM.</strong></p>" : ""}
<p>Rubric induction: ${input.stats ? `${input.stats.passed_first_time + input.stats.passed_after_refinement} of ${input.stats.pairs} seed pairs verified (${input.stats.passed_after_refinement} after refinement)` : "zero-shot"}.</p>
<h3>Judge accuracy on held-out labelled pairs (<a href="${escapeHtml(input.evalReport)}">eval report</a>)</h3>
<pre>${escapeHtml(input.table)}</pre>
<h3>Learning: trained LoRA vs base model on held-out prompts</h3>
<p>${
    w
      ? `Win rate of the trained LoRA over the base model: <strong>${pct(w.rate)}</strong> (95% CI ${pct(w.interval.low)} to ${pct(w.interval.high)}) over ${w.prompts} prompts, each judged in both orders with the same seeds for both models (forward: LoRA ${w.forward.a} / base ${w.forward.b} / undecided ${w.forward.undecided}; reverse: LoRA ${w.reverse.a} / base ${w.reverse.b} / undecided ${w.reverse.undecided}).`
      : "Not measured: training stopped before a checkpoint was written."
  }</p>${
    input.control?.winrate
      ? `\n<p>Control: the same training (same config, seeds and number of updates) with every verdict of the judge reversed reaches <strong>${pct(input.control.winrate.rate)}</strong> over the base model under the same, unreversed judge. Learning that comes from the judge moves the two runs in opposite directions.</p>`
      : ""
  }`;
}

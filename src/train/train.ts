/**
 * `train()`: RPO of an image generator, driven from TypeScript.
 *
 * 1. resolve the run directory (new, or an existing one for `resume`), the prompts and the rubric;
 * 2. start the judge (the configured VLM, or the offline referee) and the reward service on loopback;
 * 3. launch the Python workers with torchrun; they sample, submit pairs, train and checkpoint;
 * 4. stream their metrics into metrics.jsonl and the progress line;
 * 5. on Ctrl-C or a judge outage, ask the workers to checkpoint and stop; on a worker crash, end the
 *    run with its traceback; in every case close everything and write the report.
 */
import { appendFileSync, existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { basename } from "node:path";
import type { Config, TrainConfig } from "../config/schema.js";
import { loadPromptDataset } from "../data/training-prompts.js";
import { ConfigError, TrainingError } from "../errors.js";
import { createJudge } from "../judge/judge.js";
import { type LoadedRubric, loadRubric } from "../rubrics/rubric.js";
import { workerConfig } from "../runtime/payload.js";
import { pythonEnv, resolvePython } from "../runtime/python.js";
import { launchWorkers } from "../runtime/torchrun.js";
import { type OpenedVlm, openVlm } from "../vlm/client.js";
import { UsageMeter } from "../vlm/usage.js";
import type { TrainProgress } from "./progress.js";
import { writeTrainReport } from "./report.js";
import {
  type JudgementRecord,
  type PairJudge,
  type ServiceStats,
  startRewardService,
} from "./reward-service.js";
import {
  createRunDir,
  openRunDir,
  probeRuntimeVersions,
  type RunPaths,
  writeManifest,
  writePrompts,
  writeRunConfig,
} from "./run-dir.js";

export interface TrainOptions {
  /** The resolved config (from `loadConfig`). */
  config?: Config;
  /**
   * Continue the run in this directory from its latest checkpoint. Its stored config is used unless
   * `config` is given (the CLI passes the stored one with `--set` overrides applied).
   */
  resume?: string;
  /** Aborting asks the workers to checkpoint and stop at their next update boundary (Ctrl-C). */
  signal?: AbortSignal;
  /** Aborting kills the workers at once (a second Ctrl-C). */
  killSignal?: AbortSignal;
  /** Judge override (tests inject a deterministic judge). Default: the config's VLM under its rubric. */
  judge?: PairJudge;
  /**
   * An already opened VLM to judge with (e.g. the demo's referee, started once); the caller closes
   * it. Default: `openVlm(config)`, closed when the run ends.
   */
  vlm?: OpenedVlm;
  /** Create the new run exactly in this directory (it must not exist yet or be empty). */
  runDir?: string;
  onProgress?: (progress: TrainProgress) => void;
  /** Worker log lines and controller notices. */
  onLog?: (line: string) => void;
}

export interface TrainResult {
  runDir: string;
  paths: RunPaths;
  /** Optimizer updates completed (counted over the whole run, resumes included). */
  updates: number;
  /** Why the run stopped before max_steps, or null when it finished. */
  stopReason: string | null;
  judge: ServiceStats;
  usage: { calls: number; tokens: number; cost: number };
  lastMetrics: Record<string, unknown> | null;
}

export async function train(options: TrainOptions): Promise<TrainResult> {
  // 1. run directory, prompts, rubric
  const opened = options.resume ? await openRunDir(options.resume) : null;
  const config = options.config ?? opened?.config;
  if (!config) throw new ConfigError("train() needs a config or a run directory to resume");
  const trainConfig = requireTrain(config);
  const paths = opened ? opened.paths : await createRunDir(config, { dir: options.runDir });
  // A resume may change fields (a larger max_steps): the stored config always says what ran last.
  if (opened && options.config) await writeRunConfig(paths, config);
  if (!opened || !existsSync(paths.prompts)) {
    await writePrompts(paths, await loadPromptDataset(trainConfig.dataset, config.judge.task));
  }
  const rubric = config.judge.rubric_file ? await loadRubric(config.judge.rubric_file) : null;
  const python = resolvePython();
  const env = pythonEnv();
  await writeManifest(paths, {
    config,
    python: { path: python.path, versions: await probeRuntimeVersions(python.path, env) },
    rubricHash: rubric?.hash ?? null,
  });

  // 2. judge and reward service
  const meter = new UsageMeter({ budget: config.judge.budget, price: config.vlm?.price ?? null });
  // An injected VLM belongs to the caller; one opened here is closed here.
  const ownVlm = options.judge || options.vlm ? null : await openVlm(config, { meter });
  const vlm = options.judge ? null : (options.vlm ?? ownVlm);
  const judge = options.judge ?? trainingJudge(config, rubric, vlm, meter);
  let lastMetrics: Record<string, unknown> | null = null;
  let updates = 0;
  const startedAt = performance.now();
  let startUpdate: number | null = null;
  const log = (line: string) => options.onLog?.(line);

  const service = await startRewardService({
    judge,
    bind: trainConfig.service.bind,
    port: trainConfig.service.port,
    concurrency: config.judge.concurrency,
    outageThreshold: trainConfig.service.outage_threshold,
    onJudgement: (record: JudgementRecord) => appendFileSync(paths.judgements, `${JSON.stringify(record)}\n`),
    onMetrics: ({ step, metrics }) => {
      updates = step;
      startUpdate ??= step - 1;
      const totals = meter.totals;
      const line = {
        time: new Date().toISOString(),
        step,
        ...metrics,
        judge: { ...service.stats },
        vlm_calls: totals.calls,
        vlm_tokens: totals.totalTokens,
        vlm_cost: totals.cost,
      };
      lastMetrics = line;
      appendFileSync(paths.metrics, `${JSON.stringify(line)}\n`);
      options.onProgress?.({
        update: step,
        totalUpdates: trainConfig.max_steps,
        rewardMean: numberOrNull(metrics.reward_mean),
        judge: service.stats,
        calls: totals.calls,
        tokens: totals.totalTokens,
        cost: totals.cost,
        split: splitOf(metrics),
        elapsed: (performance.now() - startedAt) / 1000,
        startUpdate: startUpdate ?? 0,
      });
    },
    onEvent: (event) => {
      if (event.kind === "checkpoint") log(`checkpoint saved: ${String(event.data.path ?? "")}`);
    },
    onStop: (reason) => log(`stopping: ${reason} (workers checkpoint first)`),
  });

  // 3. workers
  const runJson = workerConfig(
    { ...config, train: trainConfig },
    { runDir: paths.dir, promptsFile: paths.prompts, resume: opened !== null, serviceUrl: service.url },
  );
  await writeFile(paths.runJson, `${JSON.stringify(runJson, null, 2)}\n`);
  const workers = launchWorkers({
    python: python.path,
    // The token travels in the environment, never in a file.
    env: { ...env, ARR_SERVICE_TOKEN: service.token },
    distributed: trainConfig.distributed,
    runJson: paths.runJson,
    runId: basename(paths.dir),
    cwd: paths.dir,
    onLine: log,
  });
  const onStop = () => service.requestStop("interrupted: checkpointing");
  const onKill = () => void workers.terminate(2_000);
  options.signal?.addEventListener("abort", onStop);
  options.killSignal?.addEventListener("abort", onKill);
  if (options.signal?.aborted) onStop();

  // 4. wait, 5. clean up whatever happened
  let exit: Awaited<typeof workers.exited>;
  try {
    exit = await workers.exited;
  } finally {
    options.signal?.removeEventListener("abort", onStop);
    options.killSignal?.removeEventListener("abort", onKill);
    await service.close();
    await ownVlm?.close();
  }
  const totals = meter.totals;
  const result: TrainResult = {
    runDir: paths.dir,
    paths,
    updates,
    stopReason: service.stopReason,
    judge: { ...service.stats },
    usage: { calls: totals.calls, tokens: totals.totalTokens, cost: totals.cost },
    lastMetrics,
  };
  await writeFile(paths.summary, `${JSON.stringify({ ...result, exit }, null, 2)}\n`);
  await writeTrainReport(paths, { rubric, config }).catch((error: unknown) => {
    log(`report not written: ${error instanceof Error ? error.message : String(error)}`);
  });
  if (exit.exitCode !== 0) {
    const traceback = extractTraceback(exit.tail);
    throw new TrainingError(
      `a training worker failed (exit ${exit.exitCode ?? exit.signal}); checkpoints so far are in ${paths.checkpoints}`,
      {
        hint: `resume with \`arr train --resume ${paths.dir}\` once fixed. Worker output:\n${traceback}`,
      },
    );
  }
  return result;
}

/** The reward judge of a run: the configured VLM conditioned on the run's rubric. */
function trainingJudge(
  config: Config,
  rubric: LoadedRubric | null,
  vlm: OpenedVlm | null,
  meter: UsageMeter,
): PairJudge {
  if (!vlm) {
    throw new ConfigError(
      "training needs a judge: set the vlm section (or use the tiny-cpu preset's referee)",
    );
  }
  return createJudge({
    vlm: vlm.client,
    config: config.judge,
    image: vlm.config.image,
    rubric: rubric ? { text: rubric.text, hash: rubric.hash } : null,
    cacheDir: config.judge.cache_dir,
    meter,
    // The run's reward scale (train.rpo.win_reward / lose_reward) is what the workers train on.
    ...(config.train
      ? { rewardScale: { win: config.train.rpo.win_reward, lose: config.train.rpo.lose_reward } }
      : {}),
  });
}

function requireTrain(config: Config): TrainConfig {
  if (!config.train) {
    throw new ConfigError("the config has no train section", {
      hint: "start from a preset: --preset tiny-cpu (CPU) or --preset flux-rpo-8gpu",
      path: "train",
    });
  }
  return config.train;
}

function numberOrNull(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function splitOf(metrics: Record<string, unknown>): TrainProgress["split"] {
  const sampling = numberOrNull(metrics.time_sampling);
  const judgeWait = numberOrNull(metrics.time_judge_wait);
  const update = numberOrNull(metrics.time_update);
  return sampling === null || judgeWait === null || update === null ? null : { sampling, judgeWait, update };
}

/** The Python traceback in the workers' last lines (torchrun's summary follows it). */
export function extractTraceback(tail: readonly string[]): string {
  const start = tail.findIndex((line) => line.includes("Traceback (most recent call last)"));
  return (start >= 0 ? tail.slice(start) : tail.slice(-20)).join("\n");
}

/**
 * `arr winrate`: the judge's win rate of model A over model B on the same prompts and seeds, both
 * presentation orders, with a 95% interval (src/train/winrate.ts).
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import { parseTextPrompts } from "../../data/training-prompts.js";
import { ConfigError, UsageError } from "../../errors.js";
import { createJudge } from "../../judge/judge.js";
import { loadRubric } from "../../rubrics/rubric.js";
import { createBridge } from "../../runtime/bridge.js";
import { describeModel, parseModelRef, winrate } from "../../train/winrate.js";
import { openVlm } from "../../vlm/client.js";
import { addConfigOptions, type ConfigOptions, resolveConfigFromOptions } from "../options.js";
import { countProgress } from "../progress.js";

interface WinrateFlags extends ConfigOptions {
  a: string;
  b: string;
  prompts: string;
  out: string;
  rubrics?: string;
  json?: boolean;
}

async function run(flags: WinrateFlags): Promise<void> {
  const { config } = await resolveConfigFromOptions(flags);
  if (!config.train || !config.vlm) {
    throw new ConfigError("winrate needs the train section (model, sampler) and a vlm judge", {
      hint: "use a training preset, e.g. --preset tiny-cpu or --preset flux-rpo-8gpu",
    });
  }
  const a = parseModelRef(flags.a);
  const b = parseModelRef(flags.b);
  const prompts = parseTextPrompts(await readFile(resolve(flags.prompts), "utf8")).map((row) => row.prompt);
  if (prompts.length === 0) throw new UsageError(`${flags.prompts}: no prompts`);
  const rubricFile = flags.rubrics ? resolve(flags.rubrics) : config.judge.rubric_file;
  const rubric = rubricFile ? await loadRubric(rubricFile) : null;
  const vlm = await openVlm(config);
  const bridge = await createBridge();
  const progress = countProgress("winrate", { enabled: !flags.json });
  try {
    const judge = createJudge({
      vlm: vlm.client,
      config: config.judge,
      image: config.vlm.image,
      rubric: rubric ? { text: rubric.text, hash: rubric.hash } : null,
      cacheDir: config.judge.cache_dir,
    });
    const result = await winrate({
      bridge,
      judge,
      train: config.train,
      a,
      b,
      prompts,
      outDir: resolve(flags.out),
      onProgress: (done, total) => progress.update(done, total),
    });
    progress.done();
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return;
    }
    const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
    process.stdout.write(
      `win rate of ${describeModel(a)} over ${describeModel(b)}: ${pct(result.rate)} ` +
        `(95% CI ${pct(result.interval.low)}-${pct(result.interval.high)}, ${result.prompts} prompts x 2 orders)\n` +
        `forward: A ${result.forward.a} / B ${result.forward.b} / undecided ${result.forward.undecided}; ` +
        `reverse: A ${result.reverse.a} / B ${result.reverse.b} / undecided ${result.reverse.undecided}\n`,
    );
  } finally {
    await bridge.close();
    await vlm.close();
  }
}

export function register(program: Command): void {
  addConfigOptions(
    program
      .command("winrate")
      .description("judge win rate of model A over model B on the same prompts and seeds, both orders")
      .requiredOption("--a <model>", "`base`, a LoRA directory, a checkpoint or a run directory")
      .requiredOption("--b <model>", "`base`, a LoRA directory, a checkpoint or a run directory")
      .requiredOption("--prompts <file>", "prompts, one per line")
      .option("--out <dir>", "where the sampled images go", "winrate")
      .option("--rubrics <file>", "rubric file for the judge (default: judge.rubric_file)")
      .option("--json", "print the result as JSON"),
  ).action((flags: WinrateFlags) => run(flags));
}

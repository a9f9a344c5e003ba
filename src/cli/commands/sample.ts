/**
 * `arr sample`: images from the base model or a trained LoRA with fixed seeds, in a flat folder or
 * GenEval's evaluator layout. Paths go to stdout (one per line, or JSON with --json); progress to stderr.
 */
import type { Command } from "commander";
import { readSamplePrompts } from "../../data/sample-prompts.js";
import { UsageError } from "../../errors.js";
import { sample } from "../../runtime/sample.js";
import { addConfigOptions, type ConfigOptions, resolveConfigFromOptions } from "../options.js";

interface SampleFlags extends ConfigOptions {
  prompts: string;
  out: string;
  lora?: string;
  layout: string;
  seed?: string;
  imagesPerPrompt: string;
  eta?: string;
  json?: boolean;
}

function integer(flag: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new UsageError(`${flag} must be an integer >= ${min}, got "${value}"`);
  }
  return n;
}

export function register(program: Command): void {
  addConfigOptions(
    program
      .command("sample")
      .description("generate images with fixed seeds from the base model or a trained LoRA")
      .requiredOption(
        "--prompts <file>",
        "prompts: .txt (one per line) or .jsonl (GenEval evaluation_metadata.jsonl)",
      )
      .requiredOption("-o, --out <dir>", "output directory")
      .option("--lora <dir>", "trained LoRA directory (default: the base model)")
      .option("--layout <layout>", "flat | geneval (GenEval's <i>/metadata.jsonl + samples/<j>.png)", "flat")
      .option("--seed <n>", "first seed (default: train.sampler.seed)")
      .option("--images-per-prompt <n>", "images per prompt (GenEval uses 4)", "1")
      .option("--eta <x>", "SDE noise level (default: train.sampler.eta; 0: deterministic Euler sampler)")
      .option("--json", "print a JSON summary instead of the paths"),
  ).action(async (flags: SampleFlags) => {
    if (flags.layout !== "flat" && flags.layout !== "geneval") {
      throw new UsageError(`--layout must be flat or geneval, got "${flags.layout}"`);
    }
    const seed = flags.seed === undefined ? undefined : integer("--seed", flags.seed, 0);
    const imagesPerPrompt = integer("--images-per-prompt", flags.imagesPerPrompt, 1);
    const eta = flags.eta === undefined ? undefined : Number(flags.eta);
    if (eta !== undefined && !(Number.isFinite(eta) && eta >= 0)) {
      throw new UsageError(`--eta must be a number >= 0, got "${flags.eta}"`);
    }
    const { config } = await resolveConfigFromOptions(flags);
    const prompts = await readSamplePrompts(flags.prompts, { layout: flags.layout });
    const controller = new AbortController();
    const onSignal = () => controller.abort();
    process.once("SIGINT", onSignal);
    try {
      process.stderr.write(
        `sampling ${prompts.length} prompt(s) x ${imagesPerPrompt} into ${flags.out} ...\n`,
      );
      const result = await sample({
        config,
        prompts,
        outDir: flags.out,
        loraDir: flags.lora ?? null,
        layout: flags.layout,
        imagesPerPrompt,
        signal: controller.signal,
        ...(seed === undefined ? {} : { seed }),
        ...(eta === undefined ? {} : { eta }),
      });
      process.stdout.write(
        flags.json ? `${JSON.stringify(result, null, 2)}\n` : `${result.images.join("\n")}\n`,
      );
      process.stderr.write(
        `wrote ${result.images.length} image(s) (${result.layout} layout) to ${result.outDir} in ${(result.elapsedMs / 1000).toFixed(1)} s\n`,
      );
    } finally {
      process.removeListener("SIGINT", onSignal);
    }
  });
}

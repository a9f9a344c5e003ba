/**
 * `sample()`: images from the base model or a trained LoRA, with fixed seeds, over the bridge (the
 * `sample` op of py-runtime/autorubric_runtime/api.py does the work). For eyeballing a run and for
 * external benchmarks: `layout: "geneval"` writes the folder layout GenEval's evaluator reads,
 * `<out>/<00000>/metadata.jsonl` + `<out>/<00000>/samples/<0000>.png`, one folder per prompt, with
 * the prompt's line of `evaluation_metadata.jsonl` copied into its `metadata.jsonl`.
 */
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import type { Config } from "../config/schema.js";
import { checkGenevalPrompts, type SamplePrompt } from "../data/sample-prompts.js";
import { ConfigError, DatasetError, UsageError } from "../errors.js";
import { type Bridge, createBridge } from "./bridge.js";
import { sampleRequest } from "./payload.js";

/** Options for {@link sample}. */
export interface SampleOptions {
  /** Resolved config; its `train` section says which model and sampler settings to use. */
  config: Config;
  prompts: SamplePrompt[];
  /** Output directory (created). */
  outDir: string;
  /** A trained LoRA directory (diffusers format); null or absent: the base model. */
  loraDir?: string | null;
  /** `flat`: `<i>_<j>.png` + index.jsonl; `geneval`: GenEval's evaluator layout. Default flat. */
  layout?: "flat" | "geneval";
  /** First seed: image j of prompt i uses seed + i * imagesPerPrompt + j. Default `train.sampler.seed`. */
  seed?: number;
  /** Images per prompt (GenEval's protocol uses 4). Default 1. */
  imagesPerPrompt?: number;
  /**
   * The SDE's noise level for these images. Default `train.sampler.eta` (the distribution training
   * samples from); 0 is the deterministic Euler sampler, which only sampling allows (training needs
   * the log-probs of a noisy step, so the schema rejects 0 there).
   */
  eta?: number;
  /** An open bridge to use (it stays open); default: one is created and closed here. */
  bridge?: Bridge;
  signal?: AbortSignal;
}

export interface SampleResult {
  /** Absolute paths of the written images, prompt-major. */
  images: string[];
  outDir: string;
  layout: "flat" | "geneval";
  prompts: number;
  seeds: number[];
  /** Wall time in ms, Python start included when this call started it. */
  elapsedMs: number;
}

/** Validates the inputs, then generates images with fixed seeds over the bridge. */
export async function sample(options: SampleOptions): Promise<SampleResult> {
  const started = performance.now();
  const train = options.config.train;
  if (!train) {
    throw new ConfigError("sampling needs a train section (which model to sample)", {
      path: "train",
      hint: "use a config with train.model, e.g. --preset tiny-cpu or --preset flux-rpo-8gpu",
    });
  }
  const layout = options.layout ?? "flat";
  const perPrompt = options.imagesPerPrompt ?? 1;
  if (!Number.isInteger(perPrompt) || perPrompt < 1) {
    throw new UsageError(`images per prompt must be a positive integer, got ${perPrompt}`);
  }
  if (options.prompts.length === 0) throw new UsageError("no prompts to sample");
  if (layout === "geneval") checkGenevalPrompts(options.prompts);
  const editing = train.model.family === "qwen-edit";
  const missing = options.prompts.findIndex((p) => editing && !p.sourceImage);
  if (missing >= 0) {
    throw new DatasetError(
      `prompt ${missing + 1}: ${train.model.family} edits an image, but the row has no source_image`,
      {
        hint: 'use a .jsonl prompts file with {"instruction": ..., "source_image": ...} rows',
      },
    );
  }
  if (options.loraDir) {
    const s = await stat(options.loraDir).catch(() => null);
    if (!s?.isDirectory()) {
      throw new UsageError(`--lora ${options.loraDir} is not a directory`, {
        hint: "pass a checkpoint's LoRA folder (it holds pytorch_lora_weights.safetensors)",
      });
    }
  }
  const base = options.seed ?? train.sampler.seed;
  const seeds = options.prompts.map((_, i) => base + i * perPrompt);
  const bridge = options.bridge ?? (await createBridge());
  try {
    const sampler = options.eta === undefined ? train.sampler : { ...train.sampler, eta: options.eta };
    const request = sampleRequest(
      { ...train, sampler },
      {
        lora_dir: options.loraDir ? resolve(options.loraDir) : null,
        // GenEval folders must carry the metadata line verbatim; the op accepts it as a dict.
        prompts: options.prompts.map((p) => (layout === "geneval" && p.metadata ? p.metadata : p.prompt)),
        seeds,
        out_dir: resolve(options.outDir),
        source_images: editing ? options.prompts.map((p) => p.sourceImage as string) : null,
        layout,
        images_per_prompt: perPrompt,
      },
    );
    const result = await bridge.call<{ images: string[] }>(
      "sample",
      request,
      options.signal ? { signal: options.signal } : {},
    );
    return {
      images: result.images,
      outDir: resolve(options.outDir),
      layout,
      prompts: options.prompts.length,
      seeds,
      elapsedMs: performance.now() - started,
    };
  } finally {
    if (!options.bridge) await bridge.close();
  }
}

/** Stand-ins and readers shared by the training end-to-end tests (test/train/*-e2e.test.ts). */
import { readFile } from "node:fs/promises";
import sharp from "sharp";
import { loadConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/schema.js";
import type { RewardJudge } from "../../src/train/reward-service.js";

/** A short tiny-cpu run: 4 updates, a checkpoint and an eval point every 2. */
export const SHORT_RUN = [
  "train.max_steps=4",
  "train.checkpoint_every=2",
  "train.eval_every=2",
  'train.eval_prompts=["a red apple", "a blue car"]',
];

/** The tiny-cpu preset writing run `name` under `root`, with `set` overrides applied in order. */
export async function tinyRunConfig(root: string, name: string, set: readonly string[]): Promise<Config> {
  const { config } = await loadConfig({
    preset: "tiny-cpu",
    set: [`run.output_dir=${root}`, `run.name=${name}`, ...set],
  });
  return config;
}

/** Deterministic stand-in: the brighter candidate wins (+1 / -1), equal brightness is a tie. */
export function brighterJudge(calls: string[][] = []): RewardJudge {
  return {
    async compare({ candidates }) {
      calls.push(candidates.map(String));
      const means = await Promise.all(
        candidates.map(async (path) => {
          const { channels } = await sharp(path).stats();
          return channels.slice(0, 3).reduce((s, c) => s + c.mean, 0);
        }),
      );
      const [a, b] = means as [number, number];
      if (a === b) return { outcome: "tie", rewards: [0, 0], agreement: null, cached: false };
      return { outcome: "decided", rewards: a > b ? [1, -1] : [-1, 1], agreement: true, cached: false };
    },
  };
}

/**
 * The tensors of a safetensors file by name (dtype, shape and raw bytes), leaving out the header's
 * free-form metadata, which may carry unordered sets.
 */
export async function tensors(path: string): Promise<Map<string, string>> {
  const bytes = await readFile(path);
  const size = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + size).toString("utf8")) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const out = new Map<string, string>();
  for (const [name, t] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const data = bytes.subarray(8 + size + t.data_offsets[0], 8 + size + t.data_offsets[1]);
    out.set(name, `${t.dtype}${JSON.stringify(t.shape)}:${data.toString("base64")}`);
  }
  return out;
}

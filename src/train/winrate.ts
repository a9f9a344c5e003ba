/**
 * Win rate of one model over another under the judge: both models sample the same prompts with the
 * same seeds, and every pair is judged in both presentation orders, so position bias cannot favour
 * either side. Per prompt the score is the mean over the two orders of 1 (A preferred), 0 (B
 * preferred) or 0.5 (tie or invalid verdict: no evidence either way). The rate is the mean score,
 * with a 95% Wilson score interval over prompts (a prompt's two orders share its images, so the
 * prompt is the independent unit; a tie counts as half a win).
 */
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { TrainConfig } from "../config/schema.js";
import { UsageError } from "../errors.js";
import { type Interval, wilsonInterval } from "../eval/stats.js";
import { identityPermutation, reversedPermutation } from "../judge/orders.js";
import type { CompareInput, Verdict } from "../judge/types.js";
import type { Bridge } from "../runtime/bridge.js";
import { sampleRequest } from "../runtime/payload.js";
import { latestLora } from "./run-dir.js";

/** A model to sample: the base model, or the base plus a LoRA directory. */
export type ModelRef = "base" | { lora: string };

/** What the win rate needs from a judge: who won each single-order comparison (and why, if it says). */
export interface WinrateJudge {
  compare(
    input: CompareInput,
  ): Promise<Pick<Verdict, "outcome" | "winner"> & Partial<Pick<Verdict, "reason">>>;
}

export interface WinrateOptions {
  bridge: Bridge;
  judge: WinrateJudge;
  /** The train section: which model family/path and sampler settings to sample with. */
  train: TrainConfig;
  a: ModelRef;
  b: ModelRef;
  prompts: string[];
  /** Source images for editing, aligned with prompts. */
  sourceImages?: string[];
  /** One seed per prompt (default 0..n-1); both models use the same ones. */
  seeds?: number[];
  outDir: string;
  onProgress?: (done: number, total: number) => void;
}

export interface WinrateResult {
  /** Mean per-prompt score of A over B (1 = A always preferred). */
  rate: number;
  /** 95% Wilson score interval of the rate, over prompts. */
  interval: Interval;
  prompts: number;
  /** Judgements per order: A preferred, B preferred, tie or invalid. */
  forward: OrderCounts;
  reverse: OrderCounts;
  images: { a: string[]; b: string[] };
}

export interface OrderCounts {
  a: number;
  b: number;
  undecided: number;
}

export function describeModel(ref: ModelRef): string {
  return ref === "base" ? "base" : ref.lora;
}

/**
 * Parses a CLI value: `base`, a LoRA directory (diffusers format), a checkpoint directory (its
 * `lora/`), or a run directory (the LoRA of its latest checkpoint).
 */
export function parseModelRef(value: string): ModelRef {
  if (value === "base") return "base";
  const dir = resolve(value);
  // Checkpoints are written atomically, so a `latest` pointer always has its lora/ beside it.
  const fromRun = latestLora(join(dir, "checkpoints"));
  if (fromRun) return { lora: fromRun };
  if (existsSync(join(dir, "lora"))) return { lora: join(dir, "lora") };
  if (!existsSync(dir)) {
    throw new UsageError(`${value}: no such LoRA, checkpoint or run directory`, {
      hint: "pass `base`, a LoRA directory, a checkpoint directory or a run directory",
    });
  }
  return { lora: dir };
}

export async function winrate(options: WinrateOptions): Promise<WinrateResult> {
  const seeds = options.seeds ?? options.prompts.map((_, i) => i);
  const sample = async (ref: ModelRef, tag: string): Promise<string[]> => {
    const outDir = join(options.outDir, tag);
    await mkdir(outDir, { recursive: true });
    const request = sampleRequest(options.train, {
      lora_dir: ref === "base" ? null : ref.lora,
      prompts: options.prompts,
      seeds,
      out_dir: outDir,
      source_images: options.sourceImages ?? null,
      layout: "flat",
      images_per_prompt: 1,
    });
    const result = await options.bridge.call<{ images: string[] }>("sample", request);
    return result.images;
  };
  const imagesA = await sample(options.a, "a");
  const imagesB = await sample(options.b, "b");

  const judged = await judgeBothOrders(
    options.judge,
    options.prompts.map((prompt, i) => ({
      prompt,
      ...(options.sourceImages?.[i] ? { sourceImage: options.sourceImages[i] } : {}),
      a: imagesA[i] as string,
      b: imagesB[i] as string,
    })),
    options.onProgress,
  );
  const { pairs: _pairs, ...summary } = judged;
  return { ...summary, images: { a: imagesA, b: imagesB } };
}

/** One prompt's two images to compare: A's and B's, sampled with the same seed. */
export interface WinratePair {
  prompt: string;
  sourceImage?: string;
  a: string;
  b: string;
}

/** The judge's answer in one presentation order, from A's side. */
export interface OrderVerdict {
  outcome: "decided" | "tie" | "invalid";
  /** Which model's image was preferred (null unless decided). */
  preferred: "a" | "b" | null;
  reason: string | null;
}

export interface JudgedPair {
  /** A first, then B. */
  forward: OrderVerdict;
  /** B first, then A. */
  reverse: OrderVerdict;
  /** Mean over the two orders of 1 (A preferred), 0 (B preferred), 0.5 (no decision). */
  score: number;
}

/** Judges every pair in both presentation orders and summarises A's win rate over B. */
export async function judgeBothOrders(
  judge: WinrateJudge,
  pairs: readonly WinratePair[],
  onProgress?: (done: number, total: number) => void,
): Promise<Omit<WinrateResult, "images"> & { pairs: JudgedPair[] }> {
  const forward: OrderCounts = { a: 0, b: 0, undecided: 0 };
  const reverse: OrderCounts = { a: 0, b: 0, undecided: 0 };
  const judged: JudgedPair[] = [];
  for (const [i, pair] of pairs.entries()) {
    // Caller order: A is candidate 0, B candidate 1.
    const images = [pair.a, pair.b];
    const judgeIn = async (permutation: number[]) => {
      const verdict = await judge.compare({
        prompt: pair.prompt,
        ...(pair.sourceImage ? { sourceImage: pair.sourceImage } : {}),
        candidates: permutation.map((k) => images[k] as string),
        order: "single",
      });
      return {
        outcome: verdict.outcome,
        winner: verdict.winner === null ? null : permutation[verdict.winner],
        reason: verdict.reason ?? null,
      };
    };
    const [fwd, rev] = await Promise.all([judgeIn(identityPermutation(2)), judgeIn(reversedPermutation(2))]);
    const f = tally(forward, fwd);
    const r = tally(reverse, rev);
    judged.push({ forward: f.verdict, reverse: r.verdict, score: (f.score + r.score) / 2 });
    onProgress?.(i + 1, pairs.length);
  }
  const wins = judged.reduce((s, p) => s + p.score, 0);
  return {
    rate: wins / Math.max(1, judged.length),
    interval: wilsonInterval(wins, judged.length),
    prompts: judged.length,
    forward,
    reverse,
    pairs: judged,
  };
}

/** Counts one judgement (winner in the caller's order, A = 0): its score for A and its verdict from A's side. */
function tally(
  counts: OrderCounts,
  verdict: { outcome: string; winner: number | null | undefined; reason: string | null },
): { score: number; verdict: OrderVerdict } {
  const { reason } = verdict;
  if (verdict.outcome !== "decided" || verdict.winner == null) {
    counts.undecided += 1;
    const outcome = verdict.outcome === "tie" ? "tie" : "invalid";
    return { score: 0.5, verdict: { outcome, preferred: null, reason } };
  }
  if (verdict.winner === 0) {
    counts.a += 1;
    return { score: 1, verdict: { outcome: "decided", preferred: "a", reason } };
  }
  counts.b += 1;
  return { score: 0, verdict: { outcome: "decided", preferred: "b", reason } };
}

/** The judge's public shapes: what a comparison takes, what a verdict holds, how a batch reports. */
import type { ImageEncoding, JudgeConfig, OrderPolicy, Task } from "../config/schema.js";
import type { VlmClient } from "../vlm/client.js";
import type { ImageInput } from "../vlm/images.js";
import type { TokenUsage, UsageMeter } from "../vlm/usage.js";
import type { RewardScale } from "./reward.js";

export type { OrderPolicy } from "../config/schema.js";

export interface CompareInput {
  /** Echoed into the verdict (e.g. the pair id). */
  id?: string;
  /** The T2I prompt or the edit instruction. */
  prompt: string;
  /** The edit's source image (makes the comparison an edit). */
  sourceImage?: ImageInput;
  /** Several source images, in the order the instruction refers to them (takes precedence over `sourceImage`). */
  sourceImages?: readonly ImageInput[];
  /** 2..N candidates; rankings and rewards are aligned with this order. */
  candidates: ImageInput[];
  /** Default: "edit" when a source image is given, else the config's task. */
  task?: Task;
  /** Overrides the configured order policy for this comparison. */
  order?: OrderPolicy;
  signal?: AbortSignal;
}

/** One presentation order's outcome. */
export interface OrderVerdict {
  /** permutation[k] = caller index of the candidate shown at position k. */
  permutation: number[];
  /** Raw text of the last reply for this order. */
  raw: string;
  /** Rank per shown position as the model gave it; null when unusable. */
  rank: number[] | null;
  /** The same rank mapped back to the caller's order; null when unusable. */
  ranking: number[] | null;
  reason: string;
  /** Parse failure of the final answer (e.g. "tie", "bad-rank"), when rank is null. */
  error?: string;
  /** Calls made for this order (1 + re-asks); from the cache when `cached`. */
  attempts: number;
  cached: boolean;
  latencyMs: number;
  usage: TokenUsage;
}

export interface Verdict {
  id?: string;
  outcome: "decided" | "tie" | "invalid";
  /** Rank per candidate in the caller's order, 1 = best; null unless decided. */
  ranking: number[] | null;
  /** Index of the best candidate; null unless decided. */
  winner: number | null;
  /** From judge/reward.ts with the tie/invalid policy applied. */
  rewards: number[];
  reason: string;
  orders: OrderVerdict[];
  /** swap: whether both orders gave the same ranking (null if either was unusable or policy is not swap). */
  agreement: boolean | null;
  orderPolicy: OrderPolicy;
  /** Wall time of the comparison. */
  latencyMs: number;
  /** Tokens spent by this comparison now (cached orders cost nothing). */
  usage: TokenUsage;
  /** Every order came from the cache. */
  cached: boolean;
  model: string;
  templateVersion: string;
  rubricHash: string | null;
  /** Set when the comparison failed outright (VLM down, unreadable image) in `compareMany`. */
  error?: string;
}

export interface CompareProgress {
  done: number;
  total: number;
  decided: number;
  ties: number;
  invalid: number;
  /** Verdicts that failed outright (also counted in `invalid`). */
  failed: number;
}

export interface CompareManyOptions {
  /** Comparisons in flight at once (default: the judge config's `concurrency`; the VLM client also caps requests). */
  concurrency?: number;
  onProgress?: (progress: CompareProgress) => void;
  /** Called with each verdict as it completes (stream it out so a stop loses nothing). */
  onVerdict?: (verdict: Verdict, index: number) => void;
  signal?: AbortSignal;
}

export interface JudgeStats {
  cacheHits: number;
  cacheMisses: number;
  /** Unreadable cache entries ignored (and later overwritten). */
  cacheCorrupt: number;
  /** Cache writes that failed (the verdict was still returned). */
  cacheWriteErrors: number;
  /** VLM calls made, including re-asks. */
  calls: number;
  reasks: number;
}

/**
 * The judge as a consumer sees it: `compare` alone, answering with the verdict fields `K` the
 * consumer reads. Evaluation, the reward service, the win rate and rubric verification each name
 * their subset (e.g. `Comparer<"outcome" | "winner">`), so a `Judge` from `createJudge()` fits all
 * of them and a test can pass a small fake.
 */
export interface Comparer<K extends keyof Verdict = keyof Verdict> {
  compare(input: CompareInput): Promise<Pick<Verdict, K>>;
}

export interface Judge extends Comparer {
  readonly model: string;
  readonly templateVersion: string;
  readonly meter: UsageMeter;
  /**
   * Compares many inputs with bounded concurrency, in input order. A comparison that fails outright
   * becomes an invalid verdict with `error`; a budget stop or cancellation rejects after the
   * comparisons in flight have finished (each already reported through `onVerdict`).
   */
  compareMany(inputs: readonly CompareInput[], options?: CompareManyOptions): Promise<Verdict[]>;
  stats(): JudgeStats;
}

export interface CreateJudgeOptions {
  vlm: VlmClient;
  config: JudgeConfig;
  /** How images are encoded for the VLM (`vlm.image` in the config). */
  image: ImageEncoding;
  /** Rendered rubric and its hash; null: judge without rubrics (zero-shot baseline). */
  rubric?: { text: string; hash: string } | null;
  /** Verdict cache folder (default `config.cache_dir`; null: no cache). */
  cacheDir?: string | null;
  /** Budget and usage meter (default: one built from `config.budget`). */
  meter?: UsageMeter;
  /** Rewards of the best and the worst candidate (default +1.0 / -0.1). */
  rewardScale?: RewardScale;
  /**
   * Reward the reversed ranking of every decided verdict: the judge of a control run, which differs
   * from the real one only in the direction of its verdicts (same scale, tie and invalid policies).
   * The verdict's `ranking` and `winner` still say what the judge answered.
   */
  reverseVerdicts?: boolean;
}

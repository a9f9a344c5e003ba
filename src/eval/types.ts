/**
 * The shapes of evaluation. The judge it calls is the judge's own `Comparer` narrowed to the verdict
 * fields evaluation reads, so a real `Judge` from `createJudge()` fits, and tests can pass a small
 * fake without a VLM; then its options and what it returns (re-exported by evaluate.ts).
 */

import type { Price } from "../config/schema.js";
import type { PairwiseLabel, PreferencePair } from "../data/pairs.js";
import type { SkippedItem } from "../data/records.js";
import type { Comparer, Verdict } from "../judge/types.js";
import type { BootstrapOptions, Interval } from "./stats.js";

/** One labelled comparison: evaluation reads the same pairs the judge and induction do. */
export type EvalPair = PreferencePair;

export type { SkippedItem };

/** What evaluation reads of a verdict. */
export type EvalVerdict = Pick<
  Verdict,
  "outcome" | "ranking" | "reason" | "usage" | "cached" | "latencyMs" | "model" | "rubricHash" | "orders"
>;

/** What evaluation needs of a judge: `compare`, answering with an `EvalVerdict`. */
export type EvalJudge = Comparer<keyof EvalVerdict>;

export type PresentationOrder = "forward" | "reverse";

export interface EvaluateProgress {
  /** Judgements finished (item x order). */
  done: number;
  total: number;
  /** Running accuracy over finished judgements. */
  accuracy: number;
}

export interface EvaluateOptions {
  /** The judge under test; its order policy is overridden with `single` for every call. */
  judge: EvalJudge;
  /** Labelled items; ids must be unique. */
  pairs: readonly EvalPair[];
  /** Presentation orders to judge (default both). */
  orders?: readonly PresentationOrder[];
  /** Judgements in flight at once (default: the schema's judge.concurrency; the VLM client caps requests too). */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (progress: EvaluateProgress) => void;
  /** Called as each judgement lands (e.g. to append to verdicts.jsonl), so nothing paid for is lost. */
  onJudgement?: (record: JudgementRecord) => void | Promise<void>;
  /** Bootstrap settings (default 1000 resamples, seed 0, 95 %). */
  bootstrap?: BootstrapOptions;
  /** Prices for the cost figure; cached verdicts cost nothing. */
  price?: Price | null;
  /** Turn bad items (no usable label, unreadable image) into counted skips instead of errors. */
  skipBad?: boolean;
  /** Name of this judge variant in tables and the report. */
  variant?: string;
  /** Dataset file, for error messages. */
  datasetFile?: string;
}

/** One judgement: an item in one presentation order. */
export interface OrderOutcome {
  order: PresentationOrder;
  /** Original candidate index shown at each position. */
  permutation: number[];
  /** `error`: the call failed after retries (counted as invalid). */
  outcome: "decided" | "tie" | "invalid" | "error";
  /** Predicted rank per candidate in the dataset's order (1 = best); null unless decided. */
  predictedRank: number[] | null;
  /** Per item (per group for pairwise-labelled items: every comparison right). */
  correct: boolean;
  /** Pairwise-labelled items: how many of the item's comparisons this judgement got right. */
  comparisonsCorrect?: number;
  reason: string;
  raw: string | null;
  error: string | null;
  cached: boolean;
  promptTokens: number;
  completionTokens: number;
  latencyMs: number;
}

export interface JudgementRecord extends OrderOutcome {
  itemId: string;
  variant: string;
}

export interface ItemResult {
  id: string;
  task: "t2i" | "edit";
  prompt: string;
  sourceImages?: string[];
  images: string[];
  /** The human order, 1 = best (ties share a rank); null for a group whose pairwise labels admit none. */
  labelRank: number[] | null;
  /** The pairwise human labels, when the item was built from them (EditReward-Bench). */
  comparisons?: PairwiseLabel[];
  category?: string;
  meta?: Record<string, unknown>;
  /** One entry per requested order, in the order requested. */
  orders: OrderOutcome[];
  /** Share of orders judged correctly (0, 0.5 or 1 with two orders). */
  score: number;
  /** Some order disagrees with the human label. */
  disagreement: boolean;
  /** Both orders decided but picked different winners: the verdict followed the position. */
  orderFlip: boolean;
}

export interface OrderSummary {
  order: PresentationOrder;
  accuracy: number;
  ci: Interval;
  correct: number;
  ties: number;
  invalid: number;
}

export interface AccuracySummary {
  /** Items evaluated (the denominator). */
  items: number;
  /** Mean over orders of the per-order accuracy: the paper's headline number. */
  accuracy: number;
  ci: Interval;
  byOrder: OrderSummary[];
  /** forward - reverse accuracy; null unless both orders were judged. */
  gap: number | null;
  gapCi: Interval | null;
  /** Share of judgements that were ties. */
  tieRate: number;
  /** Share of judgements that were invalid or failed. */
  invalidRate: number;
  /** Share of items whose decided winners differ between orders; null with one order. */
  flipRate: number | null;
  /** Items with pairwise labels only: both readings of the benchmark side by side. */
  pairwise?: PairwiseSummary;
}

/** Per-comparison and per-group accuracy of pairwise-labelled items (EditReward-Bench). */
export interface PairwiseSummary {
  /** Comparisons x orders judged; every group's comparisons count, consistent or not. */
  comparisons: number;
  comparisonsCorrect: number;
  /** Per comparison, a tie label its own outcome (how the benchmark's scripts score). */
  comparisonAccuracy: number;
  /** Groups with a consistent order (the per-group denominator, per order). */
  groups: number;
  groupsCorrect: number;
  /** Per group: every comparison of the group right, over consistent groups and orders. */
  groupAccuracy: number;
  /** Groups whose pairwise labels admit no order (e.g. A>B, B>C, C>A): counted, never scored per group. */
  inconsistentGroups: number;
}

export interface EvalUsage {
  /** Judge calls made (judgements not served from the cache). */
  calls: number;
  cacheHits: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  cost: number;
}

export interface EvaluationResult {
  variant: string;
  orders: PresentationOrder[];
  summary: AccuracySummary;
  /** Per category (or subtask) when items carry one; keyed by category. */
  categories: Record<string, AccuracySummary>;
  items: ItemResult[];
  /** Bad items turned into skips by `skipBad`. */
  skipped: SkippedItem[];
  /** Items left out on purpose: the human label is a tie, which a strict ranking cannot match. */
  excluded: SkippedItem[];
  usage: EvalUsage;
  /** Rubric hash seen in the verdicts (null: no rubric). */
  rubricHash: string | null;
  model: string | null;
  startedAt: string;
  finishedAt: string;
}

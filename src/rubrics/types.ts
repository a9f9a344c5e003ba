/**
 * The types of rubric induction's API: its options, progress events and result, and the verifier it
 * asks. Their own module so the run steps (run.ts) and the inducer (induce.ts) share them without a cycle.
 */
import type { ImageEncoding, InductionConfig, JudgeConfig, Price } from "../config/schema.js";
import type { PreferencePair } from "../data/pairs.js";
import type { Comparer } from "../judge/types.js";
import type { VlmClient } from "../vlm/client.js";
import type { CallCache } from "./call-cache.js";
import type {
  InductionStats,
  JudgeRubric,
  PairFate,
  Provenance,
  RubricFile,
  UsageSummary,
} from "./rubric.js";

/** A judge conditioned on one candidate criteria set: verification reads these verdict fields. */
export type Verifier = Comparer<"outcome" | "ranking" | "reason" | "orders" | "usage">;

/**
 * Builds the verifying judge for a criteria set. `vlm` is a per-pair counting wrapper of the
 * induction client, so calls can be attributed to pairs.
 */
export type VerifierFactory = (rubric: JudgeRubric, vlm: VlmClient) => Verifier;

/** Progress events, in order: one per finished pair, then the structure stage. */
export interface InductionProgress {
  stage: "pairs" | "structure" | "done";
  /** Pairs finished so far (of `total`). */
  done: number;
  total: number;
  passed: number;
  dropped: number;
  failed: number;
  /** The pair that just finished (stage "pairs"). */
  pair?: PairFate;
}

export interface InduceOptions {
  /** The VLM that writes criteria (and, through the judge, verifies them). */
  vlm: VlmClient;
  /** Labelled seed pairs (every pair needs a strict `labelRank`). */
  pairs: PreferencePair[];
  /** Induction settings (K, max_epochs, retries, categories, concurrency, language, task). */
  config: InductionConfig;
  /**
   * Judge settings for blind verification (order policy, re-asks, cache dir). Used by the default
   * verifier; ignored when `verifier` is given.
   */
  judge?: JudgeConfig;
  /** Verifier override (default: `createJudge` from src/judge/judge.ts with `judge`). */
  verifier?: VerifierFactory;
  /** Image encoding for the induction calls and the default verifier. */
  image: ImageEncoding;
  /** Cache for generation/refinement/categorization calls (a directory, a cache, or null: off). */
  cache?: CallCache | string | null;
  /** Seed file path and sha256, recorded in provenance. */
  seeds?: { file: string | null; sha256: string | null };
  /** Price table for the cost in provenance (default: the client's meter's). */
  price?: Price | null;
  signal?: AbortSignal;
  onProgress?: (event: InductionProgress) => void;
  /** Clock for `created_at` (tests). */
  now?: () => Date;
}

export interface InductionResult {
  /** The rubric file to save (criteria never empty). */
  rubric: RubricFile;
  provenance: Provenance;
  /** null for zero-shot. */
  stats: InductionStats | null;
  usage: UsageSummary;
  /** The judge-facing text of the rubric and its hash. */
  text: string;
  hash: string;
}

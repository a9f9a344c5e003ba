/**
 * The narrow shapes evaluation needs from the rest of the SDK. They are structural subsets of the
 * contracts in docs/ARCHITECTURE.md (PreferencePair, Judge.compare, Verdict), so a real `Judge`
 * from `createJudge()` fits, and tests can pass a tiny fake without a VLM.
 */
import type { PreferencePair } from "../judge/pairs.js";
import type { TokenUsage } from "../vlm/usage.js";

/** One labelled comparison: evaluation reads the same pairs the judge and induction do. */
export type EvalPair = PreferencePair;

/** An item left out of an evaluation, with the reason. */
export interface SkippedItem {
  /** Item id (or "<file>#<index>" when the item has none). */
  id: string;
  /** The offending field. */
  field: string;
  reason: string;
}

/** The part of a judge verdict evaluation reads (a subset of `Verdict`). */
export interface VerdictLike {
  outcome: "decided" | "tie" | "invalid";
  /** Rank per candidate in the order the candidates were passed, 1 = best; null unless decided. */
  ranking: number[] | null;
  reason: string;
  usage?: TokenUsage | null;
  cached?: boolean;
  latencyMs?: number;
  model?: string;
  rubricHash?: string | null;
  /** Raw replies per presentation order, kept for the report. */
  orders?: ReadonlyArray<{ raw?: string | null; error?: string | null }>;
}

/** What evaluation calls on a judge (a subset of `Judge`). */
export interface JudgeLike {
  compare(input: {
    /** Item id, for the judge's logs and cache. */
    id?: string;
    /** Picks the judge template (edits show the source image). */
    task?: "t2i" | "edit";
    prompt: string;
    sourceImage?: string;
    candidates: string[];
    order?: "single" | "swap" | "random";
    signal?: AbortSignal;
  }): Promise<VerdictLike>;
}

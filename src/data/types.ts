/** The shapes every dataset reader produces: a labelled comparison of 2..N candidate images. */
import type { Task } from "../config/schema.js";

export interface PreferencePair {
  /** Stable id: the row's `id`, else `<file basename>#<index>`. */
  id: string;
  task: Task;
  /** The T2I prompt or the edit instruction. */
  prompt: string;
  /**
   * Absolute paths or URLs of the edit's source images, in the order the instruction refers to
   * them (one for most edits; MMRB2 multi-image edits have 2-3). Absent for text-to-image.
   */
  sourceImages?: string[];
  /** Absolute paths or URLs of the candidates (at least 2). */
  images: string[];
  /** Human ranking aligned with `images`, 1 = best. */
  labelRank?: number[];
  /** For per-category breakdowns (`category`, else `task_type`). */
  category?: string;
  /**
   * The pairwise human labels the item was built from (EditReward-Bench): candidate indices and
   * the relation, where a tie is its own outcome. Scored per comparison and per group in eval.
   */
  comparisons?: PairwiseLabel[];
  /** Every other key of the row, untouched. */
  meta?: Record<string, unknown>;
}

/** One human comparison of candidates `a` and `b` (indices into `images`). */
export interface PairwiseLabel {
  a: number;
  b: number;
  /** ">": a is better, "<": b is better, "=": a tie. */
  relation: ">" | "<" | "=";
}

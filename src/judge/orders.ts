/**
 * Presentation orders and rankings (pure): which permutations an order policy shows the judge, how
 * a rank given in presentation order maps back to the caller's order, and how the orders of a swap
 * combine into one outcome. The judge, evaluation and the win rate all permute candidates through
 * these helpers, so "reverse" means the same thing everywhere.
 *
 * A permutation lists caller indices by position: `permutation[k]` is the caller index of the
 * candidate shown at position k.
 */
import { createHash } from "node:crypto";
import type { OrderPolicy } from "../config/schema.js";
import { seededRng } from "../util/random.js";

/** Whether `rank` is a permutation of 1..n. */
export function isPermutation(rank: readonly number[], n: number): boolean {
  if (rank.length !== n) return false;
  const seen = new Array<boolean>(n + 1).fill(false);
  for (const r of rank) {
    if (!Number.isInteger(r) || r < 1 || r > n || seen[r]) return false;
    seen[r] = true;
  }
  return true;
}

/** Whether two rankings are the same (a null ranking matches nothing). */
export function sameRanking(a: readonly number[] | null, b: readonly number[] | null): boolean {
  return a !== null && b !== null && a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The candidates as the caller gave them. */
export function identityPermutation(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** The candidates back to front: the second order of a swap, evaluation's "reverse". */
export function reversedPermutation(n: number): number[] {
  return identityPermutation(n).reverse();
}

/**
 * The random policy's order for one item: seeded by the config seed and the item's content, so it
 * does not depend on the order in which concurrent comparisons run.
 */
export function randomPermutation(n: number, seed: number, itemKey: string): number[] {
  const h = createHash("sha256").update(`${seed}:${itemKey}`).digest();
  const next = seededRng(h.readUInt32LE(0));
  const p = identityPermutation(n);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [p[i], p[j]] = [p[j] as number, p[i] as number];
  }
  return p;
}

/**
 * The presentation orders a policy asks for: single, the caller's order; swap, that order and its
 * reverse; random, one order drawn for the item (`itemKey` identifies its content).
 */
export function policyPermutations(
  policy: OrderPolicy,
  n: number,
  random: { seed: number; itemKey: string },
): number[][] {
  if (policy === "swap") return [identityPermutation(n), reversedPermutation(n)];
  if (policy === "random") return [randomPermutation(n, random.seed, random.itemKey)];
  return [identityPermutation(n)];
}

/** A rank given per shown position, mapped back to the caller's order. */
export function toCallerOrder(rank: readonly number[], permutation: readonly number[]): number[] {
  const ranking = new Array<number>(rank.length);
  for (const [k, callerIndex] of permutation.entries()) ranking[callerIndex] = rank[k] as number;
  return ranking;
}

/** What one presentation order contributes to a decision. */
export interface OrderAnswer {
  /** Rank in the caller's order; null when the answer was unusable. */
  ranking: number[] | null;
  reason: string;
  /** Why the answer was unusable. */
  error?: string;
}

export interface OrderDecision {
  outcome: "decided" | "tie" | "invalid";
  ranking: number[] | null;
  /** swap: whether both orders gave the same ranking; null otherwise or when either was unusable. */
  agreement: boolean | null;
  reason: string;
}

/**
 * Combines the orders of one comparison. One order decides by itself. Two orders (swap) decide only
 * when they agree; disagreement is a tie, and an unusable answer in either makes the verdict
 * invalid: it is never decided from one order.
 */
export function combineOrders(answers: readonly OrderAnswer[]): OrderDecision {
  const [a, b] = answers;
  if (!a) throw new RangeError("combineOrders needs at least one order");
  if (!b) {
    return {
      outcome: a.ranking ? "decided" : "invalid",
      ranking: a.ranking,
      agreement: null,
      reason: a.reason,
    };
  }
  if (!a.ranking || !b.ranking) {
    return {
      outcome: "invalid",
      ranking: null,
      agreement: null,
      reason: answers.map((o) => o.error ?? "ok").join(" | "),
    };
  }
  const agreement = sameRanking(a.ranking, b.ranking);
  return agreement
    ? { outcome: "decided", ranking: a.ranking, agreement, reason: a.reason }
    : {
        outcome: "tie",
        ranking: null,
        agreement,
        reason: `the two presentation orders disagree: ${a.reason} | ${b.reason}`,
      };
}

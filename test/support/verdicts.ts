/**
 * Whole verdicts for in-process fake judges: a test states what matters (outcome, ranking, reason)
 * and gets a complete `Verdict`, so its fake fits every consumer's `Comparer` subset.
 */
import { isPermutation } from "../../src/judge/orders.js";
import { verdictRewards } from "../../src/judge/reward.js";
import type { Verdict } from "../../src/judge/types.js";

export function fakeVerdict(
  fields: Pick<Verdict, "outcome" | "ranking"> & Partial<Verdict>,
  candidates = fields.ranking?.length ?? 2,
): Verdict {
  // A fake may return a malformed ranking on purpose (consumers must reject it): no rewards then.
  const ranked = fields.outcome === "decided" && fields.ranking && isPermutation(fields.ranking, candidates);
  return {
    winner: ranked ? (fields.ranking as number[]).indexOf(1) : null,
    rewards: ranked
      ? verdictRewards("decided", fields.ranking, candidates)
      : new Array<number>(candidates).fill(0),
    reason: "",
    orders: [],
    agreement: null,
    orderPolicy: "single",
    latencyMs: 0,
    usage: { promptTokens: 0, completionTokens: 0 },
    cached: false,
    model: "fake",
    templateVersion: "fake",
    rubricHash: null,
    ...fields,
  };
}

/** Run-level counts over a batch of verdicts. */
import type { TokenUsage } from "../vlm/usage.js";
import type { Verdict } from "./types.js";

/** Run-level counts over verdicts: what the CLI summary and eval reports show. */
export interface VerdictSummary {
  total: number;
  decided: number;
  ties: number;
  /** Includes `failed`. */
  invalid: number;
  failed: number;
  /** swap: verdicts where both orders were usable, and how many of those agreed. */
  orderPairs: number;
  agreed: number;
  /** agreed / orderPairs, null when no swap verdicts. */
  agreementRate: number | null;
  orders: number;
  cachedOrders: number;
  tokens: TokenUsage & { total: number };
}

export function summarizeVerdicts(verdicts: readonly Verdict[]): VerdictSummary {
  const s: VerdictSummary = {
    total: verdicts.length,
    decided: 0,
    ties: 0,
    invalid: 0,
    failed: 0,
    orderPairs: 0,
    agreed: 0,
    agreementRate: null,
    orders: 0,
    cachedOrders: 0,
    tokens: { promptTokens: 0, completionTokens: 0, total: 0 },
  };
  for (const v of verdicts) {
    if (v.outcome === "decided") s.decided++;
    else if (v.outcome === "tie") s.ties++;
    else s.invalid++;
    if (v.error) s.failed++;
    if (v.agreement != null) {
      s.orderPairs++;
      if (v.agreement) s.agreed++;
    }
    s.orders += v.orders.length;
    s.cachedOrders += v.orders.filter((o) => o.cached).length;
    s.tokens.promptTokens += v.usage.promptTokens;
    s.tokens.completionTokens += v.usage.completionTokens;
  }
  s.tokens.total = s.tokens.promptTokens + s.tokens.completionTokens;
  s.agreementRate = s.orderPairs > 0 ? s.agreed / s.orderPairs : null;
  return s;
}

/**
 * A failing judge: its order agreement, tie rate, invalid rate or latency moves away from what it
 * was at the start of the run.
 *
 * Baseline: the judgements of the run's first `baseline_updates` updates, pooled. A fixed early
 * baseline rather than an EWMA: a moving average follows a slow drift and would never flag it.
 * Window: the judgements of the latest `window_updates` updates, pooled; checked only once the
 * window lies wholly after the baseline. Failed judgements (no verdict) are the reward service's
 * outage rule, not counted here; cached verdicts carry no latency.
 *
 * Rules, with the Wilson interval [low, high] of the window's rate at `level` and tolerance `tol`:
 * - judge_agreement: high(window agreement) < baseline agreement - tol (both orders disagree more);
 * - judge_ties:      low(window tie rate)   > baseline tie rate + tol;
 * - judge_invalid:   low(window invalid rate) > baseline invalid rate + tol;
 * - judge_latency:   median(window) > latency_factor x median(baseline) and
 *                    median(window) - median(baseline) > latency_margin_seconds.
 */
import type { JudgeHealthConfig } from "../../config/schema.js";
import { wilsonInterval } from "../../eval/stats.js";
import type { FlagCheck, HealthFlagName } from "./flags.js";

type JudgeHealthOptions = JudgeHealthConfig & { level: number };

/** The judgements of one update (or several, pooled). */
export interface JudgeTally {
  /** Verdicts returned: decided + tie + invalid. */
  judged: number;
  ties: number;
  invalid: number;
  /** Verdicts judged in both orders, and those whose two orders agreed. */
  withAgreement: number;
  agreed: number;
  /** Seconds per verdict that reached the judge (not cached). */
  latencies: number[];
}

export function emptyTally(): JudgeTally {
  return { judged: 0, ties: 0, invalid: 0, withAgreement: 0, agreed: 0, latencies: [] };
}

/** Adds one judgement (as the reward service records it) to a tally. */
export function addJudgement(
  tally: JudgeTally,
  record: { outcome: string; agreement: boolean | null; cached: boolean; latencyMs: number },
): void {
  if (record.outcome === "failed") return;
  tally.judged += 1;
  if (record.outcome === "tie") tally.ties += 1;
  if (record.outcome === "invalid") tally.invalid += 1;
  if (record.agreement !== null) {
    tally.withAgreement += 1;
    if (record.agreement) tally.agreed += 1;
  }
  if (!record.cached) tally.latencies.push(record.latencyMs / 1000);
}

export function poolTallies(tallies: readonly JudgeTally[]): JudgeTally {
  const pooled = emptyTally();
  for (const t of tallies) {
    pooled.judged += t.judged;
    pooled.ties += t.ties;
    pooled.invalid += t.invalid;
    pooled.withAgreement += t.withAgreement;
    pooled.agreed += t.agreed;
    pooled.latencies.push(...t.latencies);
  }
  return pooled;
}

/** Baseline and window values of one judge statistic (null: no data). */
export interface DriftStat {
  baseline: number | null;
  window: number | null;
}

export interface JudgeDriftReport {
  /** False until the window lies wholly after the baseline. */
  ready: boolean;
  agreement: DriftStat;
  tieRate: DriftStat;
  invalidRate: DriftStat;
  /** Median seconds per verdict. */
  latency: DriftStat;
  checks: FlagCheck[];
}

/** `history[i]`: the judgements of update i + 1 (pairs sampled after i updates). */
export function checkJudgeDrift(
  history: readonly JudgeTally[],
  options: JudgeHealthOptions,
): JudgeDriftReport {
  const { baseline_updates: b, window_updates: w } = options;
  const ready = history.length >= b + w;
  const base = poolTallies(history.slice(0, b));
  const win = poolTallies(ready ? history.slice(-w) : []);
  const rate = (k: number, n: number) => (n > 0 ? k / n : null);
  const agreement = {
    baseline: rate(base.agreed, base.withAgreement),
    window: rate(win.agreed, win.withAgreement),
  };
  const tieRate = { baseline: rate(base.ties, base.judged), window: rate(win.ties, win.judged) };
  const invalidRate = { baseline: rate(base.invalid, base.judged), window: rate(win.invalid, win.judged) };
  const latency = { baseline: median(base.latencies), window: median(win.latencies) };
  const tol = options.rate_tolerance;

  const rateCheck = (
    flag: HealthFlagName,
    name: string,
    stat: DriftStat,
    k: number,
    n: number,
    direction: "falls" | "rises",
  ): FlagCheck => {
    if (!ready || stat.baseline === null || n === 0)
      return { flag, raised: false, reason: `${name}: no data yet` };
    const interval = wilsonInterval(k, n, options.level);
    const raised =
      direction === "falls" ? interval.high < stat.baseline - tol : interval.low > stat.baseline + tol;
    const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
    return {
      flag,
      raised,
      reason: `${name} ${pct(k / n)} [${pct(interval.low)}, ${pct(interval.high)}] over the last ${w} updates vs ${pct(stat.baseline)} in the first ${b}`,
    };
  };
  const checks = [
    rateCheck("judge_agreement", "order agreement", agreement, win.agreed, win.withAgreement, "falls"),
    rateCheck("judge_ties", "tie rate", tieRate, win.ties, win.judged, "rises"),
    rateCheck("judge_invalid", "invalid rate", invalidRate, win.invalid, win.judged, "rises"),
    latencyCheck(latency, options, ready),
  ];
  return { ready, agreement, tieRate, invalidRate, latency, checks };
}

function latencyCheck(latency: DriftStat, options: JudgeHealthOptions, ready: boolean): FlagCheck {
  const flag = "judge_latency";
  if (!ready || latency.baseline === null || latency.window === null) {
    return { flag, raised: false, reason: "latency: no data yet" };
  }
  const raised =
    latency.window > options.latency_factor * latency.baseline &&
    latency.window - latency.baseline > options.latency_margin_seconds;
  return {
    flag,
    raised,
    reason: `median latency ${latency.window.toFixed(2)} s over the last ${options.window_updates} updates vs ${latency.baseline.toFixed(2)} s in the first ${options.baseline_updates}`,
  };
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

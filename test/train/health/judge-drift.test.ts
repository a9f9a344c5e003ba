import { describe, expect, it } from "vitest";
import { JudgeHealthSchema } from "../../../src/config/schema.js";
import { wilsonInterval } from "../../../src/eval/stats.js";
import {
  addJudgement,
  checkJudgeDrift,
  emptyTally,
  type JudgeTally,
  median,
} from "../../../src/train/health/judge-drift.js";

const options = { ...JudgeHealthSchema.parse({ baseline_updates: 3, window_updates: 3 }), level: 0.95 };

/** One update's tally from its verdicts: [outcome, agreement, latency seconds]. */
function update(verdicts: Array<[string, boolean | null, number]>): JudgeTally {
  const tally = emptyTally();
  for (const [outcome, agreement, seconds] of verdicts) {
    addJudgement(tally, { outcome, agreement, cached: false, latencyMs: seconds * 1000 });
  }
  return tally;
}
const agreeing = () =>
  update(Array.from({ length: 4 }, () => ["decided", true, 1] as [string, boolean, number]));
/** Four verdicts of which `agree` agreed (a disagreement under swap is a tie). */
const mixed = (agree: number, seconds = 1) =>
  update(
    Array.from({ length: 4 }, (_, i) => (i < agree ? ["decided", true, seconds] : ["tie", false, seconds])),
  );

function raised(history: JudgeTally[]): string[] {
  return checkJudgeDrift(history, options)
    .checks.filter((c) => c.raised)
    .map((c) => c.flag);
}

describe("checkJudgeDrift", () => {
  it("is not ready until the window lies wholly after the baseline", () => {
    const report = checkJudgeDrift([agreeing(), agreeing(), agreeing(), mixed(0), mixed(0)], options);
    expect(report.ready).toBe(false);
    expect(report.checks.every((c) => !c.raised)).toBe(true);
  });

  it("flags agreement and ties when a judge starts answering at random", () => {
    // 6 of 12 agree in the window: Wilson high 0.746 < 1 - 0.15.
    expect(wilsonInterval(6, 12).high).toBeCloseTo(0.7461, 3);
    const history = [agreeing(), agreeing(), agreeing(), mixed(2), mixed(2), mixed(2)];
    const report = checkJudgeDrift(history, options);
    expect(report.agreement).toEqual({ baseline: 1, window: 0.5 });
    expect(report.tieRate).toEqual({ baseline: 0, window: 0.5 });
    expect(raised(history)).toEqual(["judge_agreement", "judge_ties"]);
  });

  it("does not flag a window within chance of the baseline", () => {
    // 11 of 12: high = 1 > 0.85; ties 1 of 12: low 0.015 < 0.15.
    expect(raised([agreeing(), agreeing(), agreeing(), mixed(3), agreeing(), agreeing()])).toEqual([]);
  });

  it("compares the latest window only: a judge that recovers clears the flag", () => {
    const history = [agreeing(), agreeing(), agreeing(), mixed(1), mixed(1), mixed(1)];
    expect(raised(history)).toContain("judge_agreement");
    expect(raised([...history, agreeing(), agreeing(), agreeing()])).toEqual([]);
  });

  it("flags invalid verdicts rising", () => {
    const invalid = () =>
      update([
        ["invalid", null, 1],
        ["invalid", null, 1],
        ["invalid", null, 1],
        ["decided", true, 1],
      ]);
    const history = [agreeing(), agreeing(), agreeing(), invalid(), invalid(), invalid()];
    expect(checkJudgeDrift(history, options).invalidRate).toEqual({ baseline: 0, window: 0.75 });
    expect(raised(history)).toEqual(["judge_invalid"]);
  });

  it("flags latency past both the factor and the margin", () => {
    const base = [mixed(4, 1), mixed(4, 1), mixed(4, 1)];
    expect(raised([...base, mixed(4, 10), mixed(4, 10), mixed(4, 10)])).toEqual(["judge_latency"]);
    // 3.5 s: 3.5x the baseline and 2.5 s more, flagged; 2.9 s is under the factor 3.
    expect(raised([...base, mixed(4, 3.5), mixed(4, 3.5), mixed(4, 3.5)])).toEqual(["judge_latency"]);
    expect(raised([...base, mixed(4, 2.9), mixed(4, 2.9), mixed(4, 2.9)])).toEqual([]);
    // A fast judge: 5x slower, yet only 0.4 s more (under the 2 s margin): jitter, not a failure.
    const fast = [mixed(4, 0.1), mixed(4, 0.1), mixed(4, 0.1)];
    expect(raised([...fast, mixed(4, 0.5), mixed(4, 0.5), mixed(4, 0.5)])).toEqual([]);
  });

  it("leaves failed judgements to the outage rule and cached ones out of latency", () => {
    const tally = emptyTally();
    addJudgement(tally, { outcome: "failed", agreement: null, cached: false, latencyMs: 5000 });
    addJudgement(tally, { outcome: "decided", agreement: true, cached: true, latencyMs: 0 });
    expect(tally).toEqual({ judged: 1, ties: 0, invalid: 0, withAgreement: 1, agreed: 1, latencies: [] });
  });

  it("median", () => {
    expect(median([])).toBeNull();
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});

import { describe, expect, it } from "vitest";
import { HealthSchema } from "../../../src/config/schema.js";
import type { RaisedFlag } from "../../../src/train/health/flags.js";
import { createHealthMonitor } from "../../../src/train/health/monitor.js";

const health = HealthSchema.parse({ judge: { baseline_updates: 2, window_updates: 2 } });

function judged(monitor: ReturnType<typeof createHealthMonitor>, step: number, agree: boolean[]): void {
  for (const agreement of agree) {
    monitor.judgement({
      step,
      outcome: agreement ? "decided" : "tie",
      agreement,
      cached: false,
      latencyMs: 100,
    });
  }
}

describe("createHealthMonitor", () => {
  it("raises a judge flag once when it starts holding, and reports it while it holds", () => {
    const raised: RaisedFlag[] = [];
    const monitor = createHealthMonitor({ health, onRaise: (f) => raised.push(f) });
    const all = [true, true, true, true, true, true];
    const half = [true, false, true, false, false, false];
    const flags: string[][] = [];
    for (const [step, verdicts] of [all, all, half, half, half, all, all].entries()) {
      judged(monitor, step, verdicts);
      flags.push(monitor.update(step + 1).flags);
    }
    expect(flags.map((f) => f.includes("judge_agreement"))).toEqual([
      false,
      false,
      false,
      true,
      true,
      false,
      false,
    ]);
    expect(raised.filter((f) => f.flag === "judge_agreement").map((f) => f.update)).toEqual([4]);
    expect(monitor.raised.map((f) => f.flag)).toEqual(["judge_agreement", "judge_ties"]);
    const snapshot = monitor.update(7);
    expect(snapshot.judge).toMatchObject({ agreement: 1, agreement_baseline: 1, latency_s: 0.1 });
  });

  it("audits: reward hacking and diversity from an eval point, kept until the next one", () => {
    const monitor = createHealthMonitor({ health });
    const result = monitor.audit({
      update: 10,
      training: { score: 8, prompts: 8 },
      audit: { score: 1, prompts: 8 },
      spread: { base: [1, 1], current: [0.2, 0.2] },
    });
    expect(result.rewardHacking.raised).toBe(true);
    expect(result.diversity.ratio).toBeCloseTo(0.2);
    expect(monitor.update(11)).toMatchObject({
      flags: ["reward_hacking", "diversity_collapse"],
      audit: { update: 10, training_winrate: 1, audit_winrate: 0.125 },
    });
    monitor.audit({
      update: 20,
      training: { score: 8, prompts: 8 },
      audit: { score: 8, prompts: 8 },
      spread: null,
    });
    expect(monitor.update(21).flags).toEqual([]);
  });

  it("rewind forgets the judgements and the audit after the restart point", () => {
    const monitor = createHealthMonitor({ health });
    for (let step = 0; step < 2; step++) judged(monitor, step, [true, true, true, true]);
    for (let step = 2; step < 4; step++) judged(monitor, step, [false, false, false, false]);
    monitor.audit({
      update: 4,
      training: { score: 8, prompts: 8 },
      audit: { score: 0, prompts: 8 },
      spread: null,
    });
    expect(monitor.update(4).flags).toContain("judge_agreement");
    monitor.rewind(2);
    for (let step = 2; step < 4; step++) judged(monitor, step, [true, true, true, true]);
    expect(monitor.update(4)).toMatchObject({ flags: [], audit: null });
  });
});

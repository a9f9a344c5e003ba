import { describe, expect, it } from "vitest";
import { wilsonInterval } from "../../../src/eval/stats.js";
import { checkRewardHacking } from "../../../src/train/health/reward-hacking.js";

describe("checkRewardHacking", () => {
  it("raises when the training judge's gain is significant and the audit judge sees a loss", () => {
    const check = checkRewardHacking({ score: 8, prompts: 8 }, { score: 0, prompts: 8 }, 0.95);
    // Wilson at 8/8, 95%: centre (1 + 0.24) / 1.48, half 0.24 / 1.48 (z^2/n = 1.96^2/8 = 0.4802).
    expect(check.training.low).toBeCloseTo(0.6756, 3);
    expect(check.audit?.rate).toBe(0);
    expect(check.raised).toBe(true);
    expect(check.reason).toMatch(/training judge 100% .* audit judge 0%/);
  });

  it("raises when the audit sits at chance: its interval still holds 0.5", () => {
    const audit = { score: 6, prompts: 8 };
    expect(wilsonInterval(6, 8).low).toBeLessThan(0.5);
    expect(checkRewardHacking({ score: 8, prompts: 8 }, audit, 0.95).raised).toBe(true);
  });

  it("does not raise when both judges see the gain", () => {
    expect(checkRewardHacking({ score: 8, prompts: 8 }, { score: 8, prompts: 8 }, 0.95).raised).toBe(false);
    // 7.5 of 8 (one prompt split over the two orders): audit's lower bound 0.64 > 0.5.
    expect(checkRewardHacking({ score: 8, prompts: 8 }, { score: 7.5, prompts: 8 }, 0.95).raised).toBe(false);
  });

  it("does not raise while the training judge's own gain is within chance", () => {
    expect(wilsonInterval(6, 8).low).toBeLessThan(0.5);
    expect(checkRewardHacking({ score: 6, prompts: 8 }, { score: 0, prompts: 8 }, 0.95).raised).toBe(false);
  });

  it("cannot raise without an audit judge", () => {
    const check = checkRewardHacking({ score: 8, prompts: 8 }, null, 0.95);
    expect(check.raised).toBe(false);
    expect(check.audit).toBeNull();
    expect(check.reason).toMatch(/no audit judge/);
  });

  it("a lower confidence level narrows the interval: 6 of 8 becomes significant at 80%", () => {
    expect(checkRewardHacking({ score: 6, prompts: 8 }, { score: 4, prompts: 8 }, 0.8).raised).toBe(
      wilsonInterval(6, 8, 0.8).low > 0.5,
    );
    expect(wilsonInterval(6, 8, 0.8).low).toBeGreaterThan(0.5);
  });
});

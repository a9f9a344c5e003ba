import { describe, expect, it } from "vitest";
import { isPermutation } from "../../src/judge/orders.js";
import { rankRewards, reverseRanking, verdictRewards } from "../../src/judge/reward.js";

describe("rewards", () => {
  it("pairwise: winner 1.0, loser -0.1", () => {
    expect(rankRewards([1, 2])).toEqual([1, -0.1]);
    expect(rankRewards([2, 1])).toEqual([-0.1, 1]);
  });

  it("listwise: 1 - 1.1*(rank-1)/(N-1)", () => {
    const rank = [3, 1, 4, 2];
    const r = rankRewards(rank);
    for (const [i, k] of rank.entries()) expect(r[i]).toBeCloseTo(1 - (1.1 * (k - 1)) / 3, 12);
    expect(Math.max(...r)).toBeCloseTo(1, 12);
    expect(Math.min(...r)).toBeCloseTo(-0.1, 12);
  });

  it("refuses anything but a permutation (ties never reach the formula)", () => {
    expect(() => rankRewards([1, 1])).toThrow(RangeError);
    expect(() => rankRewards([1, 3])).toThrow(RangeError);
    expect(() => rankRewards([1])).toThrow(RangeError);
    expect(isPermutation([2, 3, 1], 3)).toBe(true);
    expect(isPermutation([2, 2, 1], 3)).toBe(false);
  });

  it("ties and invalid verdicts follow the policy", () => {
    expect(verdictRewards("tie", null, 2)).toEqual([0, 0]);
    expect(verdictRewards("invalid", null, 3)).toEqual([0, 0, 0]);
    expect(verdictRewards("tie", null, 2, { tie: "mean" })).toEqual([0.45, 0.45]);
    expect(verdictRewards("decided", [2, 1], 2)).toEqual([-0.1, 1]);
    expect(verdictRewards("decided", [1, 2], 2, { scale: { win: 2, lose: -1 } })).toEqual([2, -1]);
  });

  it("a reversed verdict rewards the reversed ranking: the mirror image on any scale", () => {
    expect(reverseRanking([1, 2])).toEqual([2, 1]);
    expect(reverseRanking([3, 1, 4, 2])).toEqual([2, 4, 1, 3]);
    const scale = { win: 1, lose: -1 };
    expect(verdictRewards("decided", [1, 2], 2, { scale, reversed: true })).toEqual([-1, 1]);
    // N = 4 on 2 / 0.5: ranks 1..4 give 2, 1.5, 1, 0.5; reversed, rank r gets the reward of 5 - r.
    const listwise = verdictRewards("decided", [3, 1, 4, 2], 4, {
      scale: { win: 2, lose: 0.5 },
      reversed: true,
    });
    for (const [i, r] of [1.5, 0.5, 2, 1].entries()) expect(listwise[i]).toBeCloseTo(r, 12);
    expect(verdictRewards("tie", null, 3, { tie: "mean", scale, reversed: true })).toEqual([0, 0, 0]);
    expect(verdictRewards("invalid", null, 2, { scale, reversed: true })).toEqual([0, 0]);
  });
});

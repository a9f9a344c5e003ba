import { describe, expect, it } from "vitest";
import {
  combineOrders,
  identityPermutation,
  isPermutation,
  policyPermutations,
  randomPermutation,
  reversedPermutation,
  sameRanking,
  toCallerOrder,
} from "../../src/judge/orders.js";

describe("presentation orders", () => {
  it("single shows the caller's order, swap adds the reverse, random draws one seeded order", () => {
    const random = { seed: 7, itemKey: "prompt\u0000img-hashes" };
    expect(policyPermutations("single", 3, random)).toEqual([[0, 1, 2]]);
    expect(policyPermutations("swap", 3, random)).toEqual([
      [0, 1, 2],
      [2, 1, 0],
    ]);
    const [drawn] = policyPermutations("random", 5, random);
    expect(drawn).toEqual(randomPermutation(5, 7, random.itemKey));
    expect([...(drawn as number[])].sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it("a random order depends on the seed and the item, not on anything else", () => {
    expect(randomPermutation(6, 1, "a")).toEqual(randomPermutation(6, 1, "a"));
    const orders = new Set(Array.from({ length: 20 }, (_, i) => randomPermutation(6, 1, `item ${i}`).join()));
    expect(orders.size).toBeGreaterThan(10);
  });

  it("maps a rank given per shown position back to the caller's order", () => {
    // Shown: caller 2, caller 0, caller 1; the model ranks the first shown best.
    expect(toCallerOrder([1, 3, 2], [2, 0, 1])).toEqual([3, 2, 1]);
    // The reverse of the reverse is the identity, so "best shown last" in reverse means caller 0.
    expect(toCallerOrder([2, 1], reversedPermutation(2))).toEqual([1, 2]);
    expect(toCallerOrder([4, 1, 3, 2], identityPermutation(4))).toEqual([4, 1, 3, 2]);
  });

  it("compares rankings and permutations exactly", () => {
    expect(sameRanking([1, 2], [1, 2])).toBe(true);
    expect(sameRanking([1, 2], [2, 1])).toBe(false);
    expect(sameRanking(null, [1, 2])).toBe(false);
    expect(sameRanking([1, 2], [1, 2, 3])).toBe(false);
    expect(isPermutation([2, 3, 1], 3)).toBe(true);
    expect(isPermutation([2, 2, 1], 3)).toBe(false);
    expect(isPermutation([1, 2.5], 2)).toBe(false);
  });
});

describe("combining orders", () => {
  const ok = (ranking: number[], reason = "r") => ({ ranking, reason });
  const bad = (error: string) => ({ ranking: null, reason: "unusable", error });

  it("one order decides by itself, or is invalid", () => {
    expect(combineOrders([ok([2, 1], "b")])).toEqual({
      outcome: "decided",
      ranking: [2, 1],
      agreement: null,
      reason: "b",
    });
    expect(combineOrders([bad("tie")])).toMatchObject({ outcome: "invalid", ranking: null, agreement: null });
  });

  it("two orders decide only when they agree; disagreement is a tie; one unusable makes it invalid", () => {
    expect(combineOrders([ok([1, 2], "a"), ok([1, 2], "b")])).toEqual({
      outcome: "decided",
      ranking: [1, 2],
      agreement: true,
      reason: "a",
    });
    const tie = combineOrders([ok([1, 2], "a"), ok([2, 1], "b")]);
    expect(tie).toMatchObject({ outcome: "tie", ranking: null, agreement: false });
    expect(tie.reason).toContain("disagree");
    expect(combineOrders([ok([1, 2]), bad("no-json")])).toEqual({
      outcome: "invalid",
      ranking: null,
      agreement: null,
      reason: "ok | no-json",
    });
  });
});

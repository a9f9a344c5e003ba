import { describe, expect, it } from "vitest";
import { checkDiversity } from "../../../src/train/health/diversity.js";

describe("checkDiversity", () => {
  it("compares mean spreads of current and base", () => {
    const check = checkDiversity({ base: [2, 4], current: [1, 0.5] }, 0.5);
    expect(check.base).toBe(3);
    expect(check.current).toBe(0.75);
    expect(check.ratio).toBe(0.25);
    expect(check.raised).toBe(true);
  });

  it("does not raise at or above the floor", () => {
    expect(checkDiversity({ base: [2, 2], current: [1, 1] }, 0.5).raised).toBe(false);
    expect(checkDiversity({ base: [2, 2], current: [3, 3] }, 0.5).ratio).toBe(1.5);
  });

  it("says so when nothing was measured (one seed, or a zero base spread)", () => {
    for (const spread of [
      { base: [], current: [] },
      { base: [0, 0], current: [0, 0] },
    ]) {
      const check = checkDiversity(spread, 0.5);
      expect(check.ratio).toBeNull();
      expect(check.raised).toBe(false);
    }
  });

  it("ignores prompts whose spread is not a number", () => {
    expect(checkDiversity({ base: [2, Number.NaN], current: [0.5, Number.NaN] }, 0.5).ratio).toBe(0.25);
  });
});

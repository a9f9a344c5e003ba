import { describe, expect, it } from "vitest";
import { seededRng } from "../../src/util/random.js";

describe("seededRng", () => {
  it("is uniform enough for resampling", () => {
    const rng = seededRng(42);
    let sum = 0;
    for (let i = 0; i < 10000; i++) sum += rng();
    expect(sum / 10000).toBeCloseTo(0.5, 1);
  });

  it("repeats under a seed and differs across seeds", () => {
    const draw = (seed: number) => {
      const rng = seededRng(seed);
      return Array.from({ length: 8 }, () => rng());
    };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
    for (const x of draw(7)) expect(x >= 0 && x < 1).toBe(true);
  });
});

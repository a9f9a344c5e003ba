import { describe, expect, it } from "vitest";
import {
  bootstrapMean,
  mcnemarExact,
  mcnemarFromOutcomes,
  normalQuantile,
  pairedBootstrapDifference,
  quantile,
  wilsonInterval,
} from "../../src/eval/stats.js";

describe("exact McNemar", () => {
  it("matches the binomial tail computed by hand", () => {
    // b = 2, c = 8: n = 10, P(X <= 2) = (C(10,0) + C(10,1) + C(10,2)) / 2^10 = 56 / 1024.
    expect(mcnemarExact(2, 8).pValue).toBeCloseTo((2 * 56) / 1024, 12);
    // b = 0, c = 5: 2 * (1/2)^5.
    expect(mcnemarExact(0, 5).pValue).toBeCloseTo(0.0625, 12);
    // Symmetric in its arguments; equal counts are never significant.
    expect(mcnemarExact(8, 2).pValue).toBeCloseTo(mcnemarExact(2, 8).pValue, 12);
    expect(mcnemarExact(7, 7).pValue).toBe(1);
    expect(mcnemarExact(0, 0).pValue).toBe(1);
  });

  it("stays finite for thousands of discordant units", () => {
    const p = mcnemarExact(1900, 2100).pValue;
    expect(p).toBeGreaterThan(0);
    expect(p).toBeLessThan(0.01);
  });

  it("counts discordant pairs from outcome vectors", () => {
    const a = [true, true, false, false, true];
    const b = [true, false, true, true, true];
    const r = mcnemarFromOutcomes(a, b);
    expect([r.aOnly, r.bOnly]).toEqual([1, 2]);
  });
});

describe("bootstrap", () => {
  const scores = Array.from({ length: 200 }, (_, i) => (i % 10 < 7 ? 1 : 0));

  it("contains the point estimate and is deterministic under a seed", () => {
    const a = bootstrapMean(scores, { seed: 7, resamples: 500 });
    const b = bootstrapMean(scores, { seed: 7, resamples: 500 });
    const c = bootstrapMean(scores, { seed: 8, resamples: 500 });
    expect(a).toEqual(b);
    expect(a.low).toBeLessThanOrEqual(0.7);
    expect(a.high).toBeGreaterThanOrEqual(0.7);
    expect(a.high - a.low).toBeGreaterThan(0.05);
    expect(a.high - a.low).toBeLessThan(0.2);
    expect(c).not.toEqual(a);
  });

  it("is degenerate when every item agrees, and paired differences cancel shared items", () => {
    const ones = new Array(50).fill(1);
    expect(bootstrapMean(ones, { seed: 1 })).toMatchObject({ low: 1, high: 1 });
    const d = pairedBootstrapDifference(scores, scores, { seed: 3 });
    expect([d.low, d.high]).toEqual([0, 0]);
  });

  it("quantile interpolates linearly", () => {
    expect(quantile([0, 10], 0.25)).toBe(2.5);
    expect(quantile([1, 2, 3, 4, 5], 0.5)).toBe(3);
  });
});

describe("Wilson score interval", () => {
  it("the normal quantile matches tabulated values", () => {
    expect(normalQuantile(0.5)).toBe(0);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 8);
    expect(normalQuantile(0.995)).toBeCloseTo(2.5758293035489, 8);
    expect(normalQuantile(0.05)).toBeCloseTo(-1.6448536269514722, 8);
    expect(normalQuantile(1e-6)).toBeCloseTo(-4.753424308822899, 7);
    expect(() => normalQuantile(1)).toThrow(RangeError);
  });

  it("matches hand-computed intervals, including all wins and no wins", () => {
    // 32/32: [n / (n + z^2), 1]; 0/10: [0, z^2 / (n + z^2)]; 16/32: symmetric around 1/2.
    expect(wilsonInterval(32, 32)).toEqual({ low: expect.closeTo(0.8928208017, 9), high: 1, level: 0.95 });
    expect(wilsonInterval(0, 10)).toEqual({ low: 0, high: expect.closeTo(0.2775327999, 9), level: 0.95 });
    const half = wilsonInterval(16, 32);
    expect(half.low).toBeCloseTo(0.3363088287, 9);
    expect(half.high).toBeCloseTo(0.6636911713, 9);
    // Fractional successes (ties count half): 27.5 of 32.
    const ties = wilsonInterval(27.5, 32);
    expect(ties.low).toBeCloseTo(0.7007068871, 9);
    expect(ties.high).toBeCloseTo(0.9410080642, 9);
    expect(wilsonInterval(0, 0).low).toBeNaN();
  });

  it("its bounds are where the score test is exactly z", () => {
    const z = normalQuantile(0.995);
    const [k, n] = [24, 32];
    const { low, high } = wilsonInterval(k, n, 0.99);
    for (const p of [low, high]) expect(Math.abs(k / n - p) / Math.sqrt((p * (1 - p)) / n)).toBeCloseTo(z, 9);
    expect(low).toBeLessThan(k / n);
    expect(high).toBeGreaterThan(k / n);
  });
});

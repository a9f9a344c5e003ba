/**
 * Statistics for preference evaluation: percentile bootstrap intervals over items, a paired
 * bootstrap of the difference between two judges, the Wilson score interval of a proportion (the
 * win rate), and the exact McNemar test.
 * Everything here is pure: inputs are per-item correctness arrays, outputs are numbers.
 */

import { seededRng } from "../util/random.js";

/** A two-sided interval at `level` (0.95 = the 2.5th and 97.5th percentiles). */
export interface Interval {
  low: number;
  high: number;
  level: number;
}

export interface BootstrapOptions {
  /** Resamples drawn (default 1000). */
  resamples?: number;
  /** Seed of the resampling RNG (default 0). */
  seed?: number;
  /** Coverage of the interval (default 0.95). */
  level?: number;
}

/** Linear-interpolated quantile of an ascending-sorted array (type 7, as numpy's default). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (pos - lo);
}

/**
 * Percentile bootstrap over items: draws `resamples` item sets of the same size with replacement and
 * applies `statistic` to the chosen indices. Items (not item x order cells) are the resampling unit,
 * because both presentation orders of one item share its images and its label.
 */
export function bootstrapInterval(
  itemCount: number,
  statistic: (indices: Int32Array) => number,
  options: BootstrapOptions = {},
): Interval {
  const level = options.level ?? 0.95;
  if (itemCount === 0) return { low: Number.NaN, high: Number.NaN, level };
  const resamples = options.resamples ?? 1000;
  const rng = seededRng(options.seed ?? 0);
  const values: number[] = new Array(resamples);
  const indices = new Int32Array(itemCount);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < itemCount; i++) indices[i] = Math.floor(rng() * itemCount);
    values[r] = statistic(indices);
  }
  values.sort((x, y) => x - y);
  const alpha = (1 - level) / 2;
  return { low: quantile(values, alpha), high: quantile(values, 1 - alpha), level };
}

/** Mean of `scores` over the resampled `indices`. */
export function meanAt(scores: ArrayLike<number>, indices: Int32Array): number {
  let sum = 0;
  for (let i = 0; i < indices.length; i++) sum += scores[indices[i] as number] as number;
  return indices.length === 0 ? Number.NaN : sum / indices.length;
}

/** Bootstrap interval of a mean of per-item scores. */
export function bootstrapMean(scores: ArrayLike<number>, options: BootstrapOptions = {}): Interval {
  return bootstrapInterval(scores.length, (idx) => meanAt(scores, idx), options);
}

/**
 * Paired bootstrap of mean(b) - mean(a) over the same items (both arrays aligned by item): the same
 * resampled indices feed both means, so item difficulty cancels out.
 */
export function pairedBootstrapDifference(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  options: BootstrapOptions = {},
): Interval {
  if (a.length !== b.length)
    throw new RangeError(`paired arrays differ in length: ${a.length} vs ${b.length}`);
  return bootstrapInterval(a.length, (idx) => meanAt(b, idx) - meanAt(a, idx), options);
}

// Acklam's rational approximation of the normal quantile (relative error below 1.2e-9).
const ACKLAM_A = [
  -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
  2.506628277459239,
];
const ACKLAM_B = [
  -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
];
const ACKLAM_C = [
  -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
  2.938163982698783,
];
const ACKLAM_D = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];

/** Horner evaluation of a polynomial with coefficients from the highest power down. */
function horner(coefficients: readonly number[], x: number): number {
  return coefficients.reduce((acc, c) => acc * x + c, 0);
}

/** The standard normal quantile: the z with P(Z <= z) = p, for 0 < p < 1. */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile needs 0 < p < 1, got ${p}`);
  const tail = 0.02425;
  if (p < tail || p > 1 - tail) {
    const q = Math.sqrt(-2 * Math.log(Math.min(p, 1 - p)));
    const z = horner(ACKLAM_C, q) / (horner(ACKLAM_D, q) * q + 1);
    return p < tail ? z : -z;
  }
  const q = p - 0.5;
  const r = q * q;
  return (horner(ACKLAM_A, r) * q) / (horner(ACKLAM_B, r) * r + 1);
}

/**
 * Wilson score interval of a proportion: `successes` of `n` independent trials (successes may be
 * fractional, e.g. half a win for a tie). Unlike a bootstrap of the mean it does not collapse to a
 * point when every trial went one way: 32 of 32 gives [0.893, 1] at 95%.
 */
export function wilsonInterval(successes: number, n: number, level = 0.95): Interval {
  if (n <= 0) return { low: Number.NaN, high: Number.NaN, level };
  if (successes < 0 || successes > n) {
    throw new RangeError(`wilsonInterval needs 0 <= successes <= n, got ${successes} of ${n}`);
  }
  const z = normalQuantile(1 - (1 - level) / 2);
  const p = successes / n;
  const z2n = (z * z) / n;
  const centre = (p + z2n / 2) / (1 + z2n);
  const half = Math.sqrt(z2n * (p * (1 - p) + z2n / 4)) / (1 + z2n);
  // At p = 0 (p = 1) the lower (upper) bound is exactly 0 (1); rounding would miss it by a hair.
  return {
    low: p === 0 ? 0 : Math.max(0, centre - half),
    high: p === 1 ? 1 : Math.min(1, centre + half),
    level,
  };
}

const logFactorialCache: number[] = [0];
function logFactorial(n: number): number {
  for (let k = logFactorialCache.length; k <= n; k++) {
    logFactorialCache[k] = (logFactorialCache[k - 1] as number) + Math.log(k);
  }
  return logFactorialCache[n] as number;
}

/** The exact McNemar result for paired binary outcomes. */
export interface McNemarResult {
  /** Units correct under A only. */
  aOnly: number;
  /** Units correct under B only. */
  bOnly: number;
  /** Two-sided exact p-value: 2 * P(X <= min(aOnly, bOnly)), X ~ Binomial(aOnly + bOnly, 1/2), capped at 1. */
  pValue: number;
}

/** Exact (binomial) McNemar test on the discordant counts. */
export function mcnemarExact(aOnly: number, bOnly: number): McNemarResult {
  const n = aOnly + bOnly;
  if (n === 0) return { aOnly, bOnly, pValue: 1 };
  const k = Math.min(aOnly, bOnly);
  // Sum the binomial tail in log space so n in the thousands does not underflow term by term.
  const logHalfN = n * Math.log(0.5);
  let tail = 0;
  for (let i = 0; i <= k; i++) {
    tail += Math.exp(logFactorial(n) - logFactorial(i) - logFactorial(n - i) + logHalfN);
  }
  return { aOnly, bOnly, pValue: Math.min(1, 2 * tail) };
}

/** McNemar on two aligned boolean correctness vectors. */
export function mcnemarFromOutcomes(a: readonly boolean[], b: readonly boolean[]): McNemarResult {
  if (a.length !== b.length)
    throw new RangeError(`paired arrays differ in length: ${a.length} vs ${b.length}`);
  let aOnly = 0;
  let bOnly = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] && !b[i]) aOnly++;
    else if (!a[i] && b[i]) bOnly++;
  }
  return mcnemarExact(aOnly, bOnly);
}

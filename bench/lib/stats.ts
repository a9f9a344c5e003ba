/** Quantiles of benchmark samples, computed the one way the SDK computes them (src/eval/stats.ts). */
import { quantile } from "../../src/eval/stats.js";

/** The q-quantile of unsorted samples (linear interpolation, numpy's default). */
export function sampleQuantile(xs: readonly number[], q: number): number {
  return quantile(
    [...xs].sort((a, b) => a - b),
    q,
  );
}

/**
 * The one seeded PRNG of the TypeScript side (mulberry32): tiny, fast and reproducible across
 * platforms, for resampling, presentation orders and synthetic assets. Not for cryptography.
 */

/** A uniform [0, 1) generator. */
export type Rng = () => number;

export function seededRng(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

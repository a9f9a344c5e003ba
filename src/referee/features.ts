/**
 * Explicit pixel features the referee judges by. Every image is decoded with sharp and resized to
 * a fixed 64x64 RGB grid first, so features do not depend on resolution and cost well under a
 * millisecond each. All functions here are pure over that grid.
 */
import { createHash } from "node:crypto";
import sharp from "sharp";

/** Side of the square grid every image is resampled to. */
export const GRID = 64;

/** An image as the referee sees it: 64x64 RGB, channel values in [0, 1]. */
export interface Pixels {
  /** Interleaved RGB, length GRID*GRID*3. */
  rgb: Float32Array;
  /** Luma (Rec. 601 weights), length GRID*GRID. */
  luma: Float32Array;
}

export function pixelsFromRgb(rgb: Float32Array): Pixels {
  const luma = new Float32Array(GRID * GRID);
  for (let i = 0; i < luma.length; i++) {
    luma[i] = 0.299 * (rgb[3 * i] ?? 0) + 0.587 * (rgb[3 * i + 1] ?? 0) + 0.114 * (rgb[3 * i + 2] ?? 0);
  }
  return { rgb, luma };
}

/** Decodes encoded image bytes (PNG, JPEG, WebP, ...) onto the grid. */
export async function decodePixels(bytes: Buffer): Promise<Pixels> {
  const raw = await sharp(bytes)
    .flatten({ background: "#ffffff" })
    .resize(GRID, GRID, { fit: "fill" })
    .removeAlpha()
    .toColourspace("srgb")
    .raw()
    .toBuffer();
  const rgb = new Float32Array(GRID * GRID * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (raw[i] ?? 0) / 255;
  return pixelsFromRgb(rgb);
}

/** Splits a `data:<mime>;base64,<payload>` URL; returns null for anything else. */
export function parseDataUrl(url: string): Buffer | null {
  const m = /^data:([^;,]*)(;base64)?,/i.exec(url);
  if (!m) return null;
  const payload = url.slice(m[0].length);
  return m[2] ? Buffer.from(payload, "base64") : Buffer.from(decodeURIComponent(payload), "utf8");
}

const cache = new Map<string, Promise<Pixels>>();
const CACHE_SIZE = 512;

/**
 * Decodes a data-URL image, memoised by content hash: the judge sends the same candidate in both
 * presentation orders, and induction sends each seed image several times.
 */
export function pixelsFromDataUrl(url: string): Promise<Pixels> {
  const key = createHash("sha1").update(url).digest("hex");
  const hit = cache.get(key);
  if (hit) return hit;
  const bytes = parseDataUrl(url);
  const pending = bytes
    ? decodePixels(bytes)
    : Promise.reject(new Error("only data: URLs are accepted (the referee never fetches over the network)"));
  pending.catch(() => cache.delete(key));
  cache.set(key, pending);
  if (cache.size > CACHE_SIZE) {
    const oldest = cache.keys().next().value;
    if (oldest !== undefined) cache.delete(oldest);
  }
  return pending;
}

function mean(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i] ?? 0;
  return values.length ? s / values.length : 0;
}

function std(values: ArrayLike<number>): number {
  const m = mean(values);
  let s = 0;
  for (let i = 0; i < values.length; i++) s += ((values[i] ?? 0) - m) ** 2;
  return values.length ? Math.sqrt(s / values.length) : 0;
}

function channel(p: Pixels, c: 0 | 1 | 2): Float32Array {
  const out = new Float32Array(GRID * GRID);
  for (let i = 0; i < out.length; i++) out[i] = p.rgb[3 * i + c] ?? 0;
  return out;
}

/** Warm colour balance: mean red minus mean blue, in [-1, 1]. */
export function warmth(p: Pixels): number {
  return mean(channel(p, 0)) - mean(channel(p, 2));
}

/** Mean luma, in [0, 1]. */
export function brightness(p: Pixels): number {
  return mean(p.luma);
}

/** RMS contrast: standard deviation of luma. */
export function contrast(p: Pixels): number {
  return std(p.luma);
}

/**
 * Balanced exposure: 0 at a mid-grey mean with nothing clipped, more negative the further the mean
 * luma is from 0.5 and the more pixels sit at pure black or white.
 */
export function exposure(p: Pixels): number {
  let clipped = 0;
  for (const v of p.luma) if (v < 0.02 || v > 0.98) clipped++;
  return -Math.abs(mean(p.luma) - 0.5) - clipped / p.luma.length;
}

/** Colourfulness after Hasler and Süsstrunk (2003), on the opponent axes rg and yb. */
export function colourfulness(p: Pixels): number {
  const n = GRID * GRID;
  const rg = new Float32Array(n);
  const yb = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = p.rgb[3 * i] ?? 0;
    const g = p.rgb[3 * i + 1] ?? 0;
    const b = p.rgb[3 * i + 2] ?? 0;
    rg[i] = r - g;
    yb[i] = 0.5 * (r + g) - b;
  }
  return Math.hypot(std(rg), std(yb)) + 0.3 * Math.hypot(mean(rg), mean(yb));
}

/** Detail: mean absolute luma gradient (edge energy). */
export function detail(p: Pixels): number {
  let s = 0;
  for (let y = 0; y < GRID - 1; y++) {
    for (let x = 0; x < GRID - 1; x++) {
      const v = p.luma[y * GRID + x] ?? 0;
      s += Math.abs((p.luma[y * GRID + x + 1] ?? 0) - v) + Math.abs((p.luma[(y + 1) * GRID + x] ?? 0) - v);
    }
  }
  return s / ((GRID - 1) * (GRID - 1));
}

/**
 * Cleanliness: minus the median absolute Laplacian of luma. The median ignores the few pixels on
 * real edges and measures the pixel-level noise spread over flat regions.
 */
export function cleanliness(p: Pixels): number {
  const values: number[] = [];
  for (let y = 1; y < GRID - 1; y++) {
    for (let x = 1; x < GRID - 1; x++) {
      const i = y * GRID + x;
      const lap =
        4 * (p.luma[i] ?? 0) -
        (p.luma[i - 1] ?? 0) -
        (p.luma[i + 1] ?? 0) -
        (p.luma[i - GRID] ?? 0) -
        (p.luma[i + GRID] ?? 0);
      values.push(Math.abs(lap));
    }
  }
  values.sort((a, b) => a - b);
  return -(values[values.length >> 1] ?? 0);
}

/**
 * Centred subject: how much of the image's salience (distance of each pixel's colour from the
 * image's mean colour) sits in the central half of the frame, relative to the whole. 1 = uniform.
 */
export function centredness(p: Pixels): number {
  const n = GRID * GRID;
  const mr = mean(channel(p, 0));
  const mg = mean(channel(p, 1));
  const mb = mean(channel(p, 2));
  let total = 0;
  let centre = 0;
  let centreCount = 0;
  const lo = GRID / 4;
  const hi = (3 * GRID) / 4;
  for (let i = 0; i < n; i++) {
    const s = Math.hypot(
      (p.rgb[3 * i] ?? 0) - mr,
      (p.rgb[3 * i + 1] ?? 0) - mg,
      (p.rgb[3 * i + 2] ?? 0) - mb,
    );
    total += s;
    const x = i % GRID;
    const y = Math.floor(i / GRID);
    if (x >= lo && x < hi && y >= lo && y < hi) {
      centre += s;
      centreCount++;
    }
  }
  if (total < 1e-9) return 1;
  return centre / centreCount / (total / n);
}

/** Per-pixel mean absolute RGB difference between an edit and its base, sorted ascending. */
function sortedDiff(p: Pixels, base: Pixels): Float32Array {
  const n = GRID * GRID;
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    d[i] =
      (Math.abs((p.rgb[3 * i] ?? 0) - (base.rgb[3 * i] ?? 0)) +
        Math.abs((p.rgb[3 * i + 1] ?? 0) - (base.rgb[3 * i + 1] ?? 0)) +
        Math.abs((p.rgb[3 * i + 2] ?? 0) - (base.rgb[3 * i + 2] ?? 0))) /
      3;
  }
  return d.sort();
}

/**
 * Preservation outside the edit: minus the mean difference from the base over the 75% of pixels
 * that changed least. An edit confined to one region leaves those pixels untouched and scores ~0.
 */
export function preservation(p: Pixels, base: Pixels | undefined): number {
  if (!base) return 0;
  const d = sortedDiff(p, base);
  return -mean(d.subarray(0, Math.floor(d.length * 0.75)));
}

/** Edit strength: mean difference from the base over the 25% of pixels that changed most. */
export function editStrength(p: Pixels, base: Pixels | undefined): number {
  if (!base) return 0;
  const d = sortedDiff(p, base);
  return mean(d.subarray(Math.floor(d.length * 0.75)));
}

/** z-scores of a feature across candidates; all zeros when the candidates do not differ. */
export function zScores(values: readonly number[]): number[] {
  const m = values.reduce((a, b) => a + b, 0) / Math.max(values.length, 1);
  const s = Math.sqrt(values.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(values.length, 1));
  if (!(s > 1e-6)) return values.map(() => 0);
  return values.map((v) => (v - m) / s);
}

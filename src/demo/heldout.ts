/**
 * Held-out labelled pairs for the demo's judge evaluation, drawn at run time from the same hidden
 * preference as the bundled seeds (the warmer image with the higher contrast wins) but with a
 * different look (stripes and a square instead of a gradient and a disc) and their own random
 * pattern frequency and grain, so the evaluation asks whether the induced rubric generalises beyond
 * the seeds it came from. Deterministic for a seed; positions are balanced.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { seededRng } from "../util/random.js";

export interface HeldoutStyle {
  /** -1 (cool blue) .. 1 (warm orange). */
  warmth: number;
  /** 0 (flat grey) .. 1 (full range). */
  contrast: number;
  /** Stripe period in pixels. */
  period: number;
  /** Grain amplitude (0..1 of the range). */
  grain: number;
  /** Pattern offset. */
  phase: number;
}

const PROMPTS = [
  "a red kite above a green hill",
  "a blue teapot on a wooden shelf",
  "a yellow school bus on a wet road",
  "a white cat on a red blanket",
  "a green parrot on a tree branch",
  "an orange sunset behind a city skyline",
  "a brown horse in a snowy field",
  "a purple flower in a glass vase",
];

/** RGB bytes of one image (pure, so tests can check the hidden axes directly). */
export function renderHeldout(style: HeldoutStyle, size: number, noise: () => number): Buffer {
  const px = Buffer.alloc(size * size * 3);
  const t = (style.warmth + 1) / 2;
  const tint = [255, 150, 50].map((w, i) => t * w + (1 - t) * ([50, 120, 255][i] as number));
  const lo = Math.floor(size * 0.3);
  const hi = Math.floor(size * 0.7);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const stripe = 0.5 + 0.5 * Math.sin((2 * Math.PI * (y + style.phase)) / style.period);
      const inSquare = x >= lo && x < hi && y >= lo && y < hi;
      const shade = inSquare ? 1 - 0.4 * stripe : 0.6 * stripe;
      const grain = (noise() - 0.5) * style.grain;
      const o = (y * size + x) * 3;
      for (let c = 0; c < 3; c++) {
        const base = (tint[c] as number) * (0.3 + 0.7 * shade) + 255 * grain;
        const v = 128 + (base - 128) * (0.15 + 0.85 * style.contrast);
        px[o + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return px;
}

/**
 * Writes `pairs` labelled pairs (PNGs + `pairs.jsonl` in the reference layout) into `dir` and
 * returns the JSONL path.
 */
export async function writeHeldoutPairs(
  dir: string,
  options: { pairs?: number; size?: number; seed?: number } = {},
): Promise<string> {
  const n = options.pairs ?? 16;
  const size = options.size ?? 64;
  const rand = seededRng(options.seed ?? 7_2026);
  await mkdir(dir, { recursive: true });
  const lines: string[] = [];
  const style = (good: boolean): HeldoutStyle => ({
    warmth: good ? 0.2 + 0.7 * rand() : -0.9 + 0.7 * rand(),
    contrast: good ? 0.6 + 0.4 * rand() : 0.1 + 0.35 * rand(),
    period: 4 + Math.floor(12 * rand()),
    grain: 0.15 * rand(),
    phase: 16 * rand(),
  });
  for (let i = 0; i < n; i++) {
    const firstWins = i % 2 === 0;
    const id = `heldout-${String(i + 1).padStart(2, "0")}`;
    const names = [`${id}-a.png`, `${id}-b.png`];
    const styles = firstWins ? [style(true), style(false)] : [style(false), style(true)];
    for (const [k, name] of names.entries()) {
      const raw = renderHeldout(styles[k] as HeldoutStyle, size, rand);
      await writeFile(
        join(dir, name),
        await sharp(raw, { raw: { width: size, height: size, channels: 3 } })
          .png()
          .toBuffer(),
      );
    }
    lines.push(
      JSON.stringify({
        id,
        query: PROMPTS[i % PROMPTS.length],
        response: names,
        label_rank: firstWins ? [1, 2] : [2, 1],
      }),
    );
  }
  const file = join(dir, "pairs.jsonl");
  await writeFile(file, `${lines.join("\n")}\n`);
  return file;
}

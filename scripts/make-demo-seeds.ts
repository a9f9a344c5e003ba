/**
 * Writes the bundled demo seed pairs (assets/seeds/): small synthetic PNGs whose "human" label
 * follows a hidden preference the offline referee's pixel criteria can express: the warmer image
 * with the higher contrast wins. Labels are position-balanced (half [1, 2], half [2, 1]), so a
 * judge that always prefers one position scores 50 %, not 100 % as on the reference fixtures.
 *
 *   npx tsx scripts/make-demo-seeds.ts [OUT_DIR] [--pairs N] [--size PX]
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import sharp from "sharp";
import { seededRng } from "../src/util/random.js";

/** Look of one synthetic image. */
export interface SwatchStyle {
  /** -1 (cool blue) .. 1 (warm orange). */
  warmth: number;
  /** 0 (flat grey) .. 1 (full range). */
  contrast: number;
  /** Pattern phase, so the two images of a pair differ in more than the hidden axes. */
  phase: number;
}

export interface DemoSeedOptions {
  pairs?: number;
  /** Side of each square image in pixels. */
  size?: number;
  /** Seed of the generator (deterministic output). */
  seed?: number;
}

export interface DemoSeedRow {
  id: string;
  query: string;
  response: [string, string];
  label_rank: [number, number];
}

const PROMPTS = [
  "a bowl of fruit on a wooden table at sunset",
  "a lighthouse on a rocky coast",
  "a cosy reading corner with a lamp",
  "a mountain lake in autumn",
  "a street market in the evening",
  "a cup of coffee next to a window",
  "a field of sunflowers under a clear sky",
  "a campfire in a forest clearing",
  "a sailing boat in a harbour",
  "a loaf of bread on a kitchen counter",
];

/** Renders one swatch: a diagonal gradient plus a disc, tinted by warmth, stretched by contrast. */
export async function renderSwatch(style: SwatchStyle, size: number): Promise<Buffer> {
  const px = Buffer.alloc(size * size * 3);
  const warm = [255, 140, 40];
  const cool = [40, 110, 255];
  const t = (style.warmth + 1) / 2;
  const tint = warm.map((w, i) => t * w + (1 - t) * (cool[i] as number));
  const cx = size * (0.35 + 0.3 * Math.sin(style.phase));
  const cy = size * (0.4 + 0.2 * Math.cos(style.phase));
  const r = size * 0.22;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const gradient = (x + y) / (2 * size); // 0..1
      const inDisc = (x - cx) ** 2 + (y - cy) ** 2 < r * r;
      const shade = inDisc ? 1 - gradient * 0.5 : gradient * 0.8; // 0..1 luminance pattern
      const o = (y * size + x) * 3;
      for (let c = 0; c < 3; c++) {
        const base = (tint[c] as number) * (0.35 + 0.65 * shade);
        // Contrast pulls every value towards mid grey (128) when low.
        const v = 128 + (base - 128) * (0.15 + 0.85 * style.contrast);
        px[o + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return sharp(px, { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toBuffer();
}

/** Generates the seed pairs into `dir` (PNGs + seeds.jsonl) and returns the rows. */
export async function makeDemoSeeds(dir: string, options: DemoSeedOptions = {}): Promise<DemoSeedRow[]> {
  const n = options.pairs ?? 8;
  const size = options.size ?? 64;
  const rand = seededRng(options.seed ?? 20260512);
  await mkdir(dir, { recursive: true });
  const rows: DemoSeedRow[] = [];
  for (let i = 0; i < n; i++) {
    // The preferred image is warmer AND has more contrast, by a clear margin on both axes.
    const good: SwatchStyle = {
      warmth: 0.2 + 0.7 * rand(),
      contrast: 0.65 + 0.35 * rand(),
      phase: rand() * 6.28,
    };
    const bad: SwatchStyle = {
      warmth: -0.9 + 0.7 * rand(),
      contrast: 0.1 + 0.3 * rand(),
      phase: rand() * 6.28,
    };
    // Alternate positions: even pairs prefer the first image, odd pairs the second.
    const firstWins = i % 2 === 0;
    const id = `demo-${String(i + 1).padStart(2, "0")}`;
    const names: [string, string] = [`${id}-a.png`, `${id}-b.png`];
    const [first, second] = firstWins ? [good, bad] : [bad, good];
    await writeFile(join(dir, names[0]), await renderSwatch(first, size));
    await writeFile(join(dir, names[1]), await renderSwatch(second, size));
    rows.push({
      id,
      query: PROMPTS[i % PROMPTS.length] as string,
      response: names,
      label_rank: firstWins ? [1, 2] : [2, 1],
    });
  }
  await writeFile(join(dir, "seeds.jsonl"), `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`);
  return rows;
}

const isEntryPoint =
  import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("make-demo-seeds.ts");
if (isEntryPoint) {
  const args = process.argv.slice(2);
  const flag = (name: string): number | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : undefined;
  };
  const positional = args.filter((a, i) => !a.startsWith("--") && !args[i - 1]?.startsWith("--"));
  const out = resolve(positional[0] ?? "assets/seeds");
  makeDemoSeeds(out, { pairs: flag("--pairs"), size: flag("--size") }).then((rows) => {
    process.stderr.write(`wrote ${rows.length} seed pairs to ${out}/seeds.jsonl\n`);
  });
}

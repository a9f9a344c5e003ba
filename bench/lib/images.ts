/**
 * Synthetic "photo-like" PNGs for the benchmarks: smooth colour fields plus fine texture and mild
 * noise, so PNG compresses them about as badly as real generator output (solid colours would make
 * every figure look better than it is). Deterministic per seed.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { seededRng } from "../../src/util/random.js";

export async function photoLikePng(size: number, seed: number): Promise<Buffer> {
  // Drawn at half size and upscaled: real photos are locally smooth, which is what PNG exploits.
  const full = size;
  size = Math.max(8, Math.round(size / 2));
  const next = seededRng(seed);
  const raw = Buffer.alloc(size * size * 3);
  const f = [1 + next() * 3, 1 + next() * 3, 1 + next() * 3];
  const ph = [next() * 6.28, next() * 6.28, next() * 6.28];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const u = x / size;
      const v = y / size;
      const o = (y * size + x) * 3;
      for (let c = 0; c < 3; c++) {
        const base =
          128 +
          70 * Math.sin(6.28 * (f[c] as number) * u + (ph[c] as number)) * Math.cos(6.28 * v * (c + 1)) +
          8 * Math.sin(60 * u + 40 * v + c);
        raw[o + c] = Math.max(0, Math.min(255, Math.round(base + (next() - 0.5) * 16)));
      }
    }
  }
  return (
    sharp(raw, { raw: { width: size, height: size, channels: 3 } })
      .resize(full, full, { kernel: "cubic" })
      // Adaptive filtering, as PIL (which writes the trainer's images) does.
      .png({ adaptiveFiltering: true })
      .toBuffer()
  );
}

/** Writes `count` distinct images of `size` px to `dir`; returns their paths. */
export async function writePhotoLike(dir: string, size: number, count: number, seed = 1): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (let i = 0; i < count; i++) {
    const p = join(dir, `img-${size}-${i}.png`);
    await writeFile(p, await photoLikePng(size, seed * 1000 + i));
    paths.push(p);
  }
  return paths;
}

/**
 * Synthetic images for tests: solid and two-tone PNGs of known brightness, EXIF-rotated JPEGs and
 * corrupt files. Shared by every suite that needs images (judge, eval, induction, referee).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";

/** A solid PNG of the given gray level (0..255) or RGB colour. */
export async function solidPng(
  value: number | [number, number, number],
  width = 32,
  height = width,
): Promise<Buffer> {
  const [r, g, b] = typeof value === "number" ? [value, value, value] : value;
  return sharp({ create: { width, height, channels: 3, background: { r, g, b } } })
    .png()
    .toBuffer();
}

/** A PNG whose left half is `left` and right half `right` (gray levels): orientation is visible. */
export async function halvesPng(left: number, right: number, width = 32, height = 16): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++)
      raw.fill(x < width / 2 ? left : right, (y * width + x) * 3, (y * width + x) * 3 + 3);
  }
  return sharp(raw, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}

/** A JPEG stored sideways with an EXIF orientation tag (6 = rotate 90° clockwise to display). */
export async function exifJpeg(orientation: number, width = 40, height = 20): Promise<Buffer> {
  const png = await halvesPng(20, 230, width, height);
  return sharp(png).jpeg({ quality: 95 }).withMetadata({ orientation }).toBuffer();
}

/** A PNG cut short (a torn download). */
export async function truncatedPng(): Promise<Buffer> {
  const png = await solidPng(128, 64);
  return png.subarray(0, Math.floor(png.length / 2));
}

/** Bytes that are no image at all. */
export function notAnImage(): Buffer {
  return Buffer.from("this is not an image\n");
}

/** Mean brightness (0..255) over the RGB channels. */
export async function brightness(bytes: Buffer): Promise<number> {
  const { channels } = await sharp(bytes).stats();
  const rgb = channels.slice(0, 3);
  return rgb.reduce((s, c) => s + c.mean, 0) / rgb.length;
}

/** Writes `bytes` to `dir/name` (creating dir) and returns the path. */
export async function writeImage(dir: string, name: string, bytes: Buffer): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

/** `count` solid images with distinct gray levels spread over 20..235, written to `dir`; darkest first. */
export async function writeGrayLadder(dir: string, count: number, prefix = "gray"): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const level = Math.round(20 + (215 * i) / Math.max(1, count - 1));
    out.push(await writeImage(dir, `${prefix}-${i}-${level}.png`, await solidPng(level)));
  }
  return out;
}

import { readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { ImageEncodingSchema } from "../../src/config/schema.js";
import { ImageError } from "../../src/errors.js";
import { BufferPool } from "../../src/vlm/buffer-pool.js";
import { hashBytes, prepareImage, readImageBytes } from "../../src/vlm/images.js";
import { exifJpeg, halvesPng, notAnImage, solidPng, truncatedPng, writeImage } from "../support/images.js";

const enc = (o: Record<string, unknown> = {}) => ImageEncodingSchema.parse(o);
const bytesOf = (url: string) => Buffer.from(url.slice(url.indexOf(",") + 1), "base64");

describe("prepareImage", () => {
  it("passes an image that already fits through unchanged, from a path, a buffer or a data URL", async () => {
    const png = await solidPng(200, 64);
    const dir = await mkdtemp(join(tmpdir(), "arr-img-"));
    const path = await writeImage(dir, "a.png", png);
    for (const input of [path, png, `data:image/png;base64,${png.toString("base64")}`]) {
      const p = await prepareImage(input, enc());
      expect(p.passthrough).toBe(true);
      expect(p.url.startsWith("data:image/png;base64,")).toBe(true);
      expect(bytesOf(p.url).equals(png)).toBe(true);
      expect(p.hash).toBe(hashBytes(png));
    }
  });

  it("downscales to max_side and re-encodes to the configured format; the hash stays that of the original", async () => {
    const png = await solidPng(90, 300, 150);
    const p = await prepareImage(png, enc({ max_side: 100, format: "jpeg", quality: 80 }));
    expect([p.width, p.height, p.format, p.passthrough]).toEqual([100, 50, "jpeg", false]);
    const meta = await sharp(bytesOf(p.url)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["jpeg", 100, 50]);
    expect(p.hash).toBe(hashBytes(png));
  });

  it("applies EXIF orientation (a sideways JPEG arrives upright)", async () => {
    const jpg = await exifJpeg(6, 40, 20); // stored 40x20, displayed 20x40
    const p = await prepareImage(jpg, enc({ format: "png" }));
    expect([p.width, p.height]).toEqual([20, 40]);
    const out = await sharp(bytesOf(p.url)).metadata();
    expect([out.width, out.height, out.orientation ?? 1]).toEqual([20, 40, 1]);
  });

  it("finds EXIF orientation in PNG (eXIf) and WebP (VP8X) files too, not only JPEG", async () => {
    const sideways = sharp({ create: { width: 40, height: 20, channels: 3, background: "#f00" } });
    for (const format of ["png", "webp", "jpeg"] as const) {
      const bytes = await sideways.clone()[format]().withMetadata({ orientation: 6 }).toBuffer();
      const p = await prepareImage(bytes, enc({ format }));
      expect([format, p.width, p.height, p.passthrough]).toEqual([format, 20, 40, false]);
      const plain = await sideways.clone()[format]().toBuffer();
      const q = await prepareImage(plain, enc({ format }));
      expect([format, q.width, q.height, q.passthrough]).toEqual([format, 40, 20, true]);
    }
  });

  it("reads files into pool memory that is reused once released, bytes intact", async () => {
    const dir = await mkdtemp(join(tmpdir(), "arr-img-"));
    const big = await writeImage(dir, "big.png", await halvesPng(10, 200, 96, 64));
    const small = await writeImage(dir, "small.png", await solidPng(16, 12));
    const pool = new BufferPool();
    const first = await readImageBytes(big, { pool });
    const memory = first.buffer;
    expect(first.equals(readFileSync(big))).toBe(true);
    pool.release(first);
    const second = await readImageBytes(small, { pool });
    expect(second.buffer).toBe(memory); // the same memory, reused
    expect(second.equals(readFileSync(small))).toBe(true);
    // A buffer the pool did not hand out is never taken in (the caller still owns it).
    const own = readFileSync(big);
    pool.release(own);
    const third = await readImageBytes(big, { pool });
    expect(third.buffer).not.toBe(own.buffer);
    expect(third.equals(own)).toBe(true);
  });

  it("resizes an edit's source image to source_size (height, width), candidates untouched", async () => {
    const png = await halvesPng(0, 255, 64, 32);
    const e = enc({ source_size: [24, 48] });
    const src = await prepareImage(png, e, { role: "source" });
    expect([src.height, src.width]).toEqual([24, 48]);
    const cand = await prepareImage(png, e, { role: "candidate" });
    expect([cand.height, cand.width, cand.passthrough]).toEqual([32, 64, true]);
  });

  it("names a corrupt, truncated, missing or empty image in an ImageError", async () => {
    const dir = await mkdtemp(join(tmpdir(), "arr-img-"));
    const bad = await writeImage(dir, "bad.png", notAnImage());
    const torn = await writeImage(dir, "torn.png", await truncatedPng());
    await expect(prepareImage(bad, enc())).rejects.toThrow(ImageError);
    await expect(prepareImage(bad, enc())).rejects.toThrow(/bad\.png/);
    await expect(prepareImage(torn, enc())).rejects.toThrow(/torn\.png/);
    await expect(prepareImage(join(dir, "missing.png"), enc())).rejects.toThrow(/missing\.png: no such file/);
    await expect(prepareImage(Buffer.alloc(0), enc())).rejects.toThrow(ImageError);
    await expect(prepareImage("data:image/png,notbase64", enc())).rejects.toThrow(/not base64/);
  });
});

/**
 * Content-addressed image files: image bytes embedded in a dataset (parquet `Image` columns) are
 * written once to `<dir>/<sha256>.<ext>` and from then on travel as ordinary file paths, through
 * the same image code as images on disk. The extension comes from the magic bytes, so the VLM client
 * sends the right MIME type. A second read of the same dataset finds every file and writes nothing.
 */
import { createHash } from "node:crypto";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic-write.js";
import { BadField, resolveImage } from "./records.js";

/** The file extension of an image from its first bytes; null when the format is not recognised. */
export function imageExtension(bytes: Uint8Array): string | null {
  const at = (i: number, ...values: number[]) => values.every((v, k) => bytes[i + k] === v);
  if (at(0, 0x89, 0x50, 0x4e, 0x47)) return "png";
  if (at(0, 0xff, 0xd8, 0xff)) return "jpg";
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return "webp";
  if (at(0, 0x47, 0x49, 0x46, 0x38)) return "gif";
  if (at(0, 0x42, 0x4d)) return "bmp";
  if (at(0, 0x49, 0x49, 0x2a, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2a)) return "tiff";
  return null;
}

export class ImageStore {
  /** Files written by this store (not found already present). */
  written = 0;
  /** Puts of bytes whose file already existed. */
  reused = 0;

  constructor(readonly dir: string) {}

  /** The file holding these bytes (written now if absent); null when the bytes are no known image format. */
  async put(bytes: Uint8Array): Promise<string | null> {
    const ext = imageExtension(bytes);
    if (!ext) return null;
    const path = join(this.dir, `${createHash("sha256").update(bytes).digest("hex")}.${ext}`);
    const present = await stat(path).then(
      (s) => s.isFile() && s.size === bytes.byteLength,
      () => false,
    );
    if (present) {
      this.reused++;
      return path;
    }
    await writeFileAtomic(path, bytes);
    this.written++;
    return path;
  }
}

/**
 * The file of one `datasets` Image value (`{bytes, path}`): embedded bytes go through the store;
 * without bytes, `path` names a file relative to `root`.
 */
export async function embeddedImage(
  value: unknown,
  field: string,
  store: ImageStore,
  root: string,
): Promise<string> {
  if (typeof value !== "object" || value === null) throw new BadField(field, "missing image");
  const { bytes, path } = value as { bytes?: unknown; path?: unknown };
  if (bytes instanceof Uint8Array && bytes.byteLength > 0) {
    const file = await store.put(bytes);
    if (!file) throw new BadField(field, "embedded bytes are not a PNG, JPEG, WebP, GIF, BMP or TIFF image");
    return file;
  }
  return resolveImage(path, field, root);
}

/**
 * The JSON body of a chat request, encoded by us rather than by the SDK's `JSON.stringify`.
 *
 * A pair of 512x512 PNGs is about 1 MB of base64 inside the body. `JSON.stringify` would scan every
 * character of it for escapes (about 3 ms per pair), and building each image's data URL as one
 * string costs more again: V8 allocates and copies strings of hundreds of KB slowly (measured: about
 * 0.5 ms per 375 KB PNG for `toString("base64")` alone, against 0.14 ms for the same bytes encoded in
 * 48 KB slices straight into the body). So images are spliced into the serialised skeleton as raw
 * bytes: inline image parts are base64-encoded slice by slice into the output buffer, and long data
 * URL strings (base64 never needs escaping) are copied in as they are.
 */
import { randomBytes } from "node:crypto";
import type { BufferPool } from "./buffer-pool.js";

/**
 * An image given as its encoded bytes. The client writes it into the request as a base64 data URL
 * without ever holding that URL as one string: a 512x512 PNG's data URL is a 500 KB string, and V8
 * allocates strings that large far more slowly than it base64-encodes them (request-body.ts).
 */
export interface InlineImagePart {
  type: "image";
  /** e.g. "image/png" */
  mime: string;
  data: Uint8Array;
}

/** Data URLs shorter than this are left to JSON.stringify (splicing them saves nothing). */
const SPLICE_MIN_LENGTH = 1024;
const DATA_URL_BASE64 = /^data:[a-z]+\/[a-z0-9.+-]+;base64,/;
/**
 * Bytes per base64 slice: a multiple of 3 (slices concatenate into one valid encoding) whose 64 KB
 * of text stays a small V8 string.
 */
const BASE64_SLICE = 3 * 16 * 1024;

function isInlineImage(value: unknown): value is InlineImagePart {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as InlineImagePart).type === "image" &&
    (value as InlineImagePart).data instanceof Uint8Array
  );
}

/** A spliced image: the text of a data URL, or inline bytes with their data URL prefix. */
type Splice = string | { prefix: string; data: Buffer };

function spliceLength(s: Splice): number {
  // Data URLs and their prefixes are ASCII: one byte per character.
  return typeof s === "string" ? s.length : s.prefix.length + 4 * Math.ceil(s.data.length / 3);
}

function writeSplice(out: Buffer, offset: number, s: Splice): number {
  if (typeof s === "string") return offset + out.write(s, offset, "latin1");
  let at = offset + out.write(s.prefix, offset, "latin1");
  for (let i = 0; i < s.data.length; i += BASE64_SLICE) {
    at += out.write(s.data.toString("base64", i, Math.min(s.data.length, i + BASE64_SLICE)), at, "latin1");
  }
  return at;
}

/** @param memory where the encoded body goes (the caller releases it after the request); default: fresh. */
export function encodeRequestBody(body: unknown, memory?: BufferPool): Buffer {
  const splices: Splice[] = [];
  const marker = `arr-image-${randomBytes(6).toString("hex")}-`;
  const skeleton = JSON.stringify(body, (key, value: unknown) => {
    if (isInlineImage(value)) {
      const data = Buffer.from(value.data.buffer, value.data.byteOffset, value.data.byteLength);
      splices.push({ prefix: `data:${value.mime};base64,`, data });
      return { type: "image_url", image_url: { url: `${marker}${splices.length - 1}` } };
    }
    if (key !== "url" || typeof value !== "string" || value.length < SPLICE_MIN_LENGTH) return value;
    if (!DATA_URL_BASE64.test(value)) return value;
    splices.push(value);
    return `${marker}${splices.length - 1}`;
  });
  if (splices.length === 0) return Buffer.from(skeleton, "utf8");
  // One allocation; every piece is written once, straight into it (no intermediate Buffer, no concat).
  const texts: string[] = [];
  let size = 0;
  let from = 0;
  for (let i = 0; i < splices.length; i++) {
    const token = `${marker}${i}"`;
    const at = skeleton.indexOf(token, from);
    // The marker is random and each splice replaced one JSON string value, so every token is there.
    const text = skeleton.slice(from, at);
    texts.push(text);
    size += Buffer.byteLength(text, "utf8") + spliceLength(splices[i] as Splice);
    from = at + token.length - 1; // keep the closing quote in the next text piece
  }
  const tail = skeleton.slice(from);
  size += Buffer.byteLength(tail, "utf8");
  const out = memory ? memory.acquire(size) : Buffer.allocUnsafe(size);
  let offset = 0;
  for (let i = 0; i < splices.length; i++) {
    offset += out.write(texts[i] as string, offset, "utf8");
    offset = writeSplice(out, offset, splices[i] as Splice);
  }
  out.write(tail, offset, "utf8");
  return out;
}

/**
 * The JSON body of a chat request, encoded by us rather than by the SDK's `JSON.stringify`.
 *
 * A pair of 512x512 PNGs is about 1 MB of base64 inside the body, and `JSON.stringify` scans every
 * character of it for escapes: about 4 ms per pair, most of the client's cost (bench/RESULTS.md).
 * Base64 never needs escaping, so the data URLs are spliced into the serialised skeleton as raw bytes.
 */
import { randomBytes } from "node:crypto";

/** Data URLs shorter than this are left to JSON.stringify (splicing them saves nothing). */
const SPLICE_MIN_LENGTH = 1024;
const DATA_URL_BASE64 = /^data:[a-z]+\/[a-z0-9.+-]+;base64,/;

export function encodeRequestBody(body: unknown): Buffer {
  const urls: string[] = [];
  const marker = `arr-image-${randomBytes(6).toString("hex")}-`;
  const skeleton = JSON.stringify(body, (key, value: unknown) => {
    if (key !== "url" || typeof value !== "string" || value.length < SPLICE_MIN_LENGTH) return value;
    if (!DATA_URL_BASE64.test(value)) return value;
    urls.push(value);
    return `${marker}${urls.length - 1}`;
  });
  if (urls.length === 0) return Buffer.from(skeleton, "utf8");
  // One allocation and one copy per piece: the base64 goes straight from its string into the body
  // (no intermediate Buffer per image, no concat), which is most of the client's copying.
  const texts: string[] = [];
  let size = 0;
  let from = 0;
  for (let i = 0; i < urls.length; i++) {
    const token = `${marker}${i}"`;
    const at = skeleton.indexOf(token, from);
    // The marker is random and each URL replaced one JSON string value, so every token is there.
    const text = skeleton.slice(from, at);
    texts.push(text);
    size += Buffer.byteLength(text, "utf8");
    size += (urls[i] as string).length; // base64 data URLs are ASCII: one byte per character
    from = at + token.length - 1; // keep the closing quote in the next text piece
  }
  const tail = skeleton.slice(from);
  size += Buffer.byteLength(tail, "utf8");
  const out = Buffer.allocUnsafe(size);
  let offset = 0;
  for (let i = 0; i < urls.length; i++) {
    offset += out.write(texts[i] as string, offset, "utf8");
    offset += out.write(urls[i] as string, offset, "latin1");
  }
  out.write(tail, offset, "utf8");
  return out;
}

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
    if (
      key === "url" &&
      typeof value === "string" &&
      value.length >= SPLICE_MIN_LENGTH &&
      DATA_URL_BASE64.test(value)
    ) {
      urls.push(value);
      return `${marker}${urls.length - 1}`;
    }
    return value;
  });
  if (urls.length === 0) return Buffer.from(skeleton, "utf8");
  const parts: Buffer[] = [];
  const pieces = skeleton.split(new RegExp(`${marker}(\\d+)`));
  // split() with a capture group alternates: text, index, text, index, ..., text
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i] as string;
    parts.push(
      i % 2 === 0 ? Buffer.from(piece, "utf8") : Buffer.from(urls[Number(piece)] as string, "latin1"),
    );
  }
  return Buffer.concat(parts);
}

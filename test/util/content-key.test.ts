import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { cacheKey, canonicalJson } from "../../src/util/content-key.js";

describe("content keys", () => {
  it("sorts object keys at every depth and drops undefined fields", () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: undefined } })).toBe(
      '{"a":{"d":[2,{"e":0,"f":1}]},"b":1}',
    );
  });

  it("keys equal settings equally, whatever their key order, and hashes the canonical text", () => {
    expect(cacheKey({ model: "m", rubric: "r" })).toBe(cacheKey({ rubric: "r", model: "m" }));
    expect(cacheKey({ model: "m" })).not.toBe(cacheKey({ model: "n" }));
    expect(cacheKey({ a: 1 })).toBe(createHash("sha256").update('{"a":1}').digest("hex"));
  });
});

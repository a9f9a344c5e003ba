/**
 * Content-addressed keys: the sha256 of a canonical JSON rendering, so the same settings always give
 * the same key (the verdict cache and the induction call cache are both addressed this way).
 */
import { createHash } from "node:crypto";

/** Stable JSON: object keys sorted, so equal settings give equal keys. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const obj = value as Record<string, unknown>;
  return `{${Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`)
    .join(",")}}`;
}

export function cacheKey(parts: Record<string, unknown>): string {
  return createHash("sha256").update(canonicalJson(parts)).digest("hex");
}

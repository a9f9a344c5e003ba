/**
 * Content-addressed cache of induction calls (generation, refinement, categorization, zero-shot),
 * so an interrupted `arr rubrics induce` rerun pays for nothing twice. The judge's own verdict
 * cache covers verification. Entries are written atomically (temp file + rename): concurrent
 * writers of the same key write the same content, and a torn write is never visible; an
 * unreadable entry is a miss, never an error.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TokenUsage } from "../vlm/usage.js";

/** A stored reply. */
export interface CachedCall {
  text: string;
  usage: TokenUsage;
  model: string;
  /** What kind of call produced it (for humans reading the cache). */
  kind: string;
  created_at: string;
}

export class CallCache {
  /** Directory of the entries, or null when caching is off. */
  readonly dir: string | null;

  constructor(dir: string | null) {
    this.dir = dir;
  }

  /** sha256 of a canonical JSON rendering of everything that determines the answer. */
  static key(parts: unknown): string {
    return createHash("sha256").update(canonicalJson(parts), "utf8").digest("hex");
  }

  private path(key: string): string {
    return join(this.dir as string, key.slice(0, 2), `${key}.json`);
  }

  async get(key: string): Promise<CachedCall | null> {
    if (!this.dir) return null;
    try {
      const value = JSON.parse(await readFile(this.path(key), "utf8")) as CachedCall;
      if (typeof value?.text !== "string" || typeof value.usage?.promptTokens !== "number") return null;
      return value;
    } catch {
      return null;
    }
  }

  async put(key: string, value: CachedCall): Promise<void> {
    if (!this.dir) return;
    const file = this.path(key);
    await mkdir(join(this.dir, key.slice(0, 2)), { recursive: true });
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await writeFile(tmp, JSON.stringify(value), "utf8");
    await rename(tmp, file);
  }
}

/** JSON with object keys sorted, so logically equal inputs give equal keys. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      return Object.fromEntries(
        Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)),
      );
    }
    return v;
  });
}

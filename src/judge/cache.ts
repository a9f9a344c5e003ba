/**
 * Content-addressed verdict cache on disk: one JSON file per (model, template, rubric, images in
 * presentation order, sampling and encoding settings). Entries are per presentation order, so a
 * swap run reuses an earlier single-order run. Writes go to a temp file and are renamed into place
 * (atomic on POSIX), so concurrent writers are safe; an unreadable entry is treated as a miss and
 * overwritten by the next write.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic-write.js";
import type { TokenUsage } from "../vlm/usage.js";

/** Bump when the entry layout changes; old entries then simply miss. */
const ENTRY_FORMAT = 1;

/** One presentation order's final answer (after any re-asks). */
export interface CachedOrder {
  /** Raw text of the last reply. */
  raw: string;
  /** Rank in presentation order, or null when the answer stayed unusable. */
  rank: number[] | null;
  reason: string;
  /** Why the answer is unusable (parse failure), when rank is null. */
  error?: string;
  /** Calls made for this order (1 + re-asks). */
  attempts: number;
  usage: TokenUsage;
  latencyMs: number;
  model: string;
}

interface Entry {
  format: number;
  key: string;
  createdAt: string;
  value: CachedOrder;
}

function isEntry(v: unknown, key: string): v is Entry {
  if (!v || typeof v !== "object") return false;
  const e = v as Partial<Entry>;
  const val = e.value as Partial<CachedOrder> | undefined;
  return (
    e.format === ENTRY_FORMAT &&
    e.key === key &&
    !!val &&
    typeof val.raw === "string" &&
    (val.rank === null || Array.isArray(val.rank)) &&
    typeof val.attempts === "number" &&
    !!val.usage
  );
}

export class VerdictCache {
  hits = 0;
  misses = 0;
  /** Entries found unreadable (torn or foreign) and ignored. */
  corrupt = 0;

  constructor(readonly dir: string) {}

  private path(key: string): string {
    return join(this.dir, key.slice(0, 2), `${key}.json`);
  }

  async get(key: string): Promise<CachedOrder | null> {
    let text: string;
    try {
      text = await readFile(this.path(key), "utf8");
    } catch {
      this.misses++;
      return null;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!isEntry(parsed, key)) {
      this.corrupt++;
      this.misses++;
      return null;
    }
    this.hits++;
    return parsed.value;
  }

  async set(key: string, value: CachedOrder): Promise<void> {
    const entry: Entry = { format: ENTRY_FORMAT, key, createdAt: new Date().toISOString(), value };
    await writeFileAtomic(this.path(key), JSON.stringify(entry));
  }
}

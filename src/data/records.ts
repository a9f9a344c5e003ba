/**
 * Shared plumbing of the dataset adapters: JSON / JSONL reading with item locations, image path
 * resolution with an existence check, and the bad-item policy (DatasetError naming the item and the
 * field, or a counted skip under `skipBad`).
 */
import { access, readFile } from "node:fs/promises";
import { basename, dirname, isAbsolute, resolve } from "node:path";
import { DatasetError } from "../errors.js";
import type { PreferencePair } from "./pairs.js";
import { isUrl } from "./pairs.js";

/** An item left out of an evaluation, with the reason. */
export interface SkippedItem {
  /** Item id (or "<file>#<index>" when the item has none). */
  id: string;
  /** The offending field. */
  field: string;
  reason: string;
}

export interface AdapterOptions {
  /** Turn a bad item into a counted skip instead of an error. */
  skipBad?: boolean;
  /** Directory image paths are relative to (default: the dataset file's directory). */
  imageRoot?: string;
  /** Keep only the first N good items. */
  limit?: number;
}

export interface AdapterResult {
  pairs: PreferencePair[];
  /** Bad items skipped under `skipBad`. */
  skipped: SkippedItem[];
  /** Items left out by design (the human label is a tie). */
  excluded: SkippedItem[];
}

/** One raw record and where it came from. */
export interface RawRecord {
  value: unknown;
  /** "#<index>" for JSON arrays, ":<line>" for JSONL. */
  where: string;
  index: number;
}

/** A bad field in one record; adapters throw it and `collect` applies the skip policy. */
export class BadField extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

/** Reads a JSON array, a JSON object holding an array under `arrayKey`, or JSONL. */
export async function readRecords(file: string, arrayKey?: string): Promise<RawRecord[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new DatasetError(
      `${file}: cannot read dataset (${(error as NodeJS.ErrnoException).code ?? error})`,
      {
        file,
        hint: "check the --dataset path",
        cause: error,
      },
    );
  }
  const trimmed = text.trimStart();
  if (trimmed.startsWith("[") || trimmed.startsWith("{")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      // A JSONL file also starts with "{": fall through to line parsing when whole-file JSON fails.
      if (!trimmed.startsWith("{")) {
        throw new DatasetError(`${file}: invalid JSON (${(error as Error).message})`, {
          file,
          hint: "the file must be a JSON array or JSON Lines",
          cause: error,
        });
      }
    }
    if (parsed !== undefined) {
      let rows: unknown = parsed;
      if (!Array.isArray(rows) && arrayKey && typeof rows === "object" && rows !== null) {
        rows = (rows as Record<string, unknown>)[arrayKey];
      }
      if (Array.isArray(rows)) return rows.map((value, index) => ({ value, where: `#${index}`, index }));
      if (!trimmed.startsWith("{") || arrayKey) {
        throw new DatasetError(
          `${file}: expected a JSON array${arrayKey ? ` or an object with a "${arrayKey}" array` : ""}`,
          { file, field: arrayKey, hint: "check --format matches the file" },
        );
      }
      return [{ value: parsed, where: ":1", index: 0 }];
    }
  }
  const records: RawRecord[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      records.push({ value: JSON.parse(line), where: `:${i + 1}`, index: records.length });
    } catch (error) {
      throw new DatasetError(`${file}:${i + 1}: invalid JSON line (${(error as Error).message})`, {
        file,
        line: i + 1,
        hint: "each JSONL line must be one JSON object",
        cause: error,
      });
    }
  });
  return records;
}

/** A required non-empty string field. */
export function requireString(record: Record<string, unknown>, field: string): string {
  const v = record[field];
  if (typeof v !== "string" || v.trim() === "")
    throw new BadField(field, "missing or not a non-empty string");
  return v;
}

/** Resolves an image path against the root and checks the file exists (URLs pass unchecked). */
export async function resolveImage(path: unknown, field: string, root: string): Promise<string> {
  if (typeof path !== "string" || path.trim() === "") throw new BadField(field, "missing image path");
  if (isUrl(path)) return path;
  const abs = isAbsolute(path) ? path : resolve(root, path);
  try {
    await access(abs);
  } catch {
    throw new BadField(field, `image not found: ${abs}`);
  }
  return abs;
}

export function asObject(value: unknown): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new BadField("(item)", "not a JSON object");
  }
  return value as Record<string, unknown>;
}

/** Outcome of converting one record: a pair, or a tie label to exclude. */
export type Converted = { pair: PreferencePair } | { excluded: SkippedItem };

/**
 * Converts every record with `convert`, applying the bad-item policy. Ids default to
 * "<file basename>#<index>" like the reference loader's.
 */
export async function collect(
  file: string,
  records: readonly RawRecord[],
  options: AdapterOptions,
  convert: (record: Record<string, unknown>, fallbackId: string) => Promise<Converted>,
): Promise<AdapterResult> {
  const result: AdapterResult = { pairs: [], skipped: [], excluded: [] };
  const base = basename(file);
  for (const raw of records) {
    if (options.limit !== undefined && result.pairs.length >= options.limit) break;
    const fallbackId = `${base}#${raw.index}`;
    let id = fallbackId;
    try {
      const record = asObject(raw.value);
      for (const key of ["id", "pair_id", "dev_id"]) {
        const v = record[key];
        if (typeof v === "string" || typeof v === "number") {
          id = String(v);
          break;
        }
      }
      const converted = await convert(record, id);
      if ("pair" in converted) result.pairs.push(converted.pair);
      else result.excluded.push(converted.excluded);
    } catch (error) {
      if (!(error instanceof BadField)) throw error;
      if (options.skipBad) {
        result.skipped.push({ id, field: error.field, reason: error.reason });
        continue;
      }
      throw new DatasetError(`${file}${raw.where}: item "${id}" field ${error.field}: ${error.reason}`, {
        file,
        line: raw.index,
        field: error.field,
        hint: "fix the item, or pass --skip-bad to count such items as skipped",
      });
    }
  }
  return result;
}

export function imageRootOf(file: string, options: AdapterOptions): string {
  return options.imageRoot ? resolve(options.imageRoot) : dirname(resolve(file));
}

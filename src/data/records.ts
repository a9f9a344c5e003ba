/**
 * Rows of a dataset and the one policy for bad ones, shared by every reader in src/data/: JSON
 * arrays, JSONL and parquet rows come in as records with a location; a converter turns each into an
 * item or throws `BadField`; `collect` then either throws a `DatasetError` naming the file, the row,
 * the field and the fix, or (under `skipBad`) counts the row as skipped and carries on. Missing
 * image files are the exception to "stop at the first": they are gathered and reported together
 * (count and first ids), because published archives miss images in bulk (HPDv3).
 */
import { readFile, stat } from "node:fs/promises";
import { basename, dirname, isAbsolute, resolve } from "node:path";
import { DatasetError } from "../errors.js";
import type { PreferencePair } from "./types.js";

/** A row left out, and why. */
export interface SkippedItem {
  /** Item id (or "<file>#<index>" when the item has none). */
  id: string;
  /** The offending field. */
  field: string;
  reason: string;
  /** Where the row is: `file:line` (JSONL), `file item N` (JSON array) or `file row N` (parquet). */
  where?: string;
}

export interface AdapterOptions {
  /** Turn a bad item into a counted skip instead of an error. */
  skipBad?: boolean;
  /** Directory image paths are relative to (default: the dataset file's directory). */
  imageRoot?: string;
  /** Keep only the first N good items. */
  limit?: number;
  /** Folder for images embedded in parquet shards (default `<tmpdir>/autorubric-images`). */
  imageCacheDir?: string;
}

export interface AdapterResult {
  pairs: PreferencePair[];
  /** Bad items skipped under `skipBad`. */
  skipped: SkippedItem[];
  /** Items left out by design (e.g. a human label that is a tie, where the format cannot score it). */
  excluded: SkippedItem[];
  /** What the reader saw beyond the items: counts worth reporting (e.g. responses with several images). */
  notes?: Record<string, number>;
}

/** One raw record and where it came from. */
export interface RawRecord {
  value: unknown;
  /** The file (JSON, JSONL or parquet shard) the record is in. */
  file: string;
  /** `file:line`, `file item N` or `file row N`. */
  where: string;
  /** 1-based line (JSONL) or 0-based item/row index. */
  line: number;
  /** 0-based position among the records of the file, for fallback ids. */
  index: number;
  /** The row could not even be parsed (bad JSON line): a bad row like any other. */
  parseError?: string;
}

/** A bad field in one record; converters throw it and `collect` applies the skip policy. */
export class BadField extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

/** A record naming an image file that does not exist. */
export class MissingImage extends BadField {}

/** An http(s) or data URL rather than a file path (never resolved against a folder or checked on disk). */
export function isUrl(s: string): boolean {
  return /^(https?:\/\/|data:)/i.test(s);
}

/** Reads a JSON array, a JSON object holding an array under `arrayKey`, or JSONL. */
export async function readRecords(file: string, arrayKey?: string): Promise<RawRecord[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new DatasetError(
      `${file}: cannot read dataset (${(error as NodeJS.ErrnoException).code ?? error})`,
      { file, hint: "check the dataset path", cause: error },
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
        throw new DatasetError(`${file}: not valid JSON (${(error as Error).message})`, {
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
      if (Array.isArray(rows)) {
        return rows.map((value, index) => ({
          value,
          file,
          where: `${file} item ${index}`,
          line: index,
          index,
        }));
      }
      if (!trimmed.startsWith("{") || arrayKey) {
        throw new DatasetError(
          `${file}: expected a JSON array${arrayKey ? ` or an object with a "${arrayKey}" array` : ""}`,
          { file, field: arrayKey, hint: "check --format matches the file" },
        );
      }
      return [{ value: parsed, file, where: `${file}:1`, line: 1, index: 0 }];
    }
  }
  const records: RawRecord[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    if (raw.trim() === "") return;
    const record: RawRecord = {
      value: null,
      file,
      where: `${file}:${i + 1}`,
      line: i + 1,
      index: records.length,
    };
    try {
      record.value = JSON.parse(raw);
    } catch (error) {
      record.parseError = `not valid JSON (${(error as Error).message})`;
    }
    records.push(record);
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
  const found = await stat(abs).then(
    (s) => s.isFile(),
    () => false,
  );
  if (!found) throw new MissingImage(field, `image not found: ${abs}`);
  return abs;
}

export function asObject(value: unknown): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new BadField("(row)", "expected a JSON object");
  }
  return value as Record<string, unknown>;
}

/**
 * Outcome of converting one record: a pair, an item left out on purpose, or null for a record that
 * only feeds a later item (a row of a multi-row group).
 */
export type Converted = { pair: PreferencePair } | { excluded: SkippedItem } | null;

export interface CollectOptions extends AdapterOptions {
  /** Keys holding an item's own id, tried in order (default id, pair_id, dev_id). */
  idKeys?: readonly string[];
  /** Named in the hint of a missing-images error (e.g. a known upstream gap). */
  missingHint?: string;
}

const SHOWN_IDS = 5;

/**
 * Converts every record with `convert`, applying the bad-row policy; stops reading once `limit`
 * items are collected. Ids default to "<file basename>#<index>"; duplicate ids are an error.
 */
export async function collect(
  file: string,
  records: Iterable<RawRecord> | AsyncIterable<RawRecord>,
  options: CollectOptions,
  convert: (record: Record<string, unknown>, id: string, raw: RawRecord) => Promise<Converted>,
): Promise<AdapterResult> {
  const result: AdapterResult = { pairs: [], skipped: [], excluded: [] };
  const missing: SkippedItem[] = [];
  const ids = new Set<string>();
  const idKeys = options.idKeys ?? ["id", "pair_id", "dev_id"];
  const base = basename(file);
  for await (const raw of records) {
    if (options.limit !== undefined && result.pairs.length >= options.limit) break;
    let id = `${base}#${raw.index}`;
    try {
      if (raw.parseError) throw new BadField("(row)", raw.parseError);
      const record = asObject(raw.value);
      for (const key of idKeys) {
        const v = record[key];
        if (typeof v === "string" || typeof v === "number") {
          id = String(v);
          break;
        }
      }
      const converted = await convert(record, id, raw);
      if (converted === null) continue;
      if ("pair" in converted) {
        if (ids.has(converted.pair.id)) {
          throw new DatasetError(`${raw.where}: duplicate item id "${converted.pair.id}"`, {
            file,
            line: raw.line,
            field: "id",
            hint: "give every item a unique id (or omit ids to number rows)",
          });
        }
        ids.add(converted.pair.id);
        result.pairs.push(converted.pair);
      } else result.excluded.push(converted.excluded);
    } catch (error) {
      if (!(error instanceof BadField)) throw error;
      const bad: SkippedItem = { id, field: error.field, reason: error.reason, where: raw.where };
      if (options.skipBad) result.skipped.push(bad);
      else if (error instanceof MissingImage) missing.push(bad);
      else {
        throw new DatasetError(`${raw.where}: item "${id}" field ${error.field}: ${error.reason}`, {
          file,
          line: raw.line,
          field: error.field,
          hint: "fix the item, or pass --skip-bad (skipBad) to count such items as skipped",
        });
      }
    }
  }
  if (missing.length > 0) {
    const first = missing[0] as SkippedItem;
    const ids = missing.slice(0, SHOWN_IDS).map((m) => `"${m.id}"`);
    throw new DatasetError(
      `${file}: ${missing.length === 1 ? "1 item names an image that does not exist" : `${missing.length} items name images that do not exist`} (${ids.join(", ")}${missing.length > SHOWN_IDS ? ", ..." : ""}); first: ${first.where} field ${first.field}: ${first.reason}`,
      {
        file,
        field: first.field,
        hint: `${options.missingHint ? `${options.missingHint}; ` : ""}pass --skip-bad (skipBad) to evaluate the rest and count these as skipped`,
      },
    );
  }
  return result;
}

export function imageRootOf(file: string, options: AdapterOptions): string {
  return options.imageRoot ? resolve(options.imageRoot) : dirname(resolve(file));
}

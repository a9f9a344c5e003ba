/**
 * Preference pairs (2..N candidates) in the reference release's layout, from a JSON array or JSONL.
 * Keys: `query`/`prompt`/`instruction`; `image_paths`/`response`/`responses`/`images`/...; for edits
 * `source_image` (+ aliases) and `edited_images` (+ aliases); optional `label_rank` (1 = best).
 * Relative image paths are resolved against the pairs file's folder.
 */
import { readFile, stat } from "node:fs/promises";
import { basename, dirname, isAbsolute, resolve } from "node:path";
import type { Task } from "../config/schema.js";
import { DatasetError } from "../errors.js";

export interface PreferencePair {
  /** Stable id: the row's `id`, else `<file basename>#<index>`. */
  id: string;
  task: Task;
  /** The T2I prompt or the edit instruction. */
  prompt: string;
  /** Absolute path or URL of the edit's source image. */
  sourceImage?: string;
  /** Absolute paths or URLs of the candidates (at least 2). */
  images: string[];
  /** Human ranking aligned with `images`, 1 = best. */
  labelRank?: number[];
  /** For per-category breakdowns (`category`, else `task_type`). */
  category?: string;
  /** Every other key of the row, untouched. */
  meta?: Record<string, unknown>;
}

/** A row that was skipped (with `skipBad`) and why. */
export interface BadItem {
  file: string;
  /** 1-based line for JSONL, 0-based item index for JSON arrays. */
  line: number;
  field: string;
  message: string;
}

export interface LoadPairsOptions {
  /** Expected task; a row of the other kind is an error. Default: decided per row. */
  task?: Task;
  /** Skip bad rows (reported in `skipped`) instead of throwing on the first. */
  skipBad?: boolean;
  /** Check that local image files exist (default true). */
  checkFiles?: boolean;
}

const PROMPT_KEYS = ["query", "prompt", "instruction"] as const;
const BASE_KEYS = [
  "source_image",
  "base_image",
  "original_image",
  "input_image",
  "reference_image",
  "ref_image",
];
const EDITED_KEYS = [
  "edited_images",
  "edited_image",
  "target_images",
  "target_image",
  "output_images",
  "output_image",
  "result_images",
  "result_image",
];
const IMAGE_KEYS = [
  "image_paths",
  "response",
  "responses",
  "images",
  "image",
  "generated_images",
  "generated_image",
];
const KNOWN = new Set<string>([
  "id",
  ...PROMPT_KEYS,
  ...BASE_KEYS,
  ...EDITED_KEYS,
  ...IMAGE_KEYS,
  "label_rank",
  "category",
  "response_includes_base",
]);

class RowError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** An http(s) or data URL rather than a file path (never resolved against a folder or checked on disk). */
export function isUrl(s: string): boolean {
  return /^(https?:\/\/|data:)/i.test(s);
}

function imageList(
  row: Record<string, unknown>,
  keys: readonly string[],
): { key: string; paths: string[] } | null {
  for (const key of keys) {
    const v = row[key];
    if (v == null || v === "" || (Array.isArray(v) && v.length === 0)) continue;
    const list = Array.isArray(v) ? v : [v];
    list.forEach((p, i) => {
      if (typeof p !== "string" || p.trim() === "") {
        throw new RowError(Array.isArray(v) ? `${key}[${i}]` : key, "expected an image path or URL string");
      }
    });
    return { key, paths: list as string[] };
  }
  return null;
}

function firstString(
  row: Record<string, unknown>,
  keys: readonly string[],
): { key: string; value: string } | null {
  for (const key of keys) {
    const v = row[key];
    if (typeof v === "string" && v.trim() !== "") return { key, value: v };
    if (v != null && typeof v !== "string") throw new RowError(key, `expected a string, got ${typeof v}`);
  }
  return null;
}

function toPair(
  row: unknown,
  index: number,
  file: string,
  options: LoadPairsOptions,
): { pair: PreferencePair; imageFields: Array<{ field: string; path: string }> } {
  if (row == null || typeof row !== "object" || Array.isArray(row))
    throw new RowError("(row)", "expected a JSON object");
  const r = row as Record<string, unknown>;
  const prompt = firstString(r, PROMPT_KEYS);
  if (!prompt) throw new RowError("query", "missing the prompt (query, prompt or instruction)");

  const base = imageList(r, BASE_KEYS);
  if (base && base.paths.length !== 1) throw new RowError(base.key, "expected exactly one source image");
  const edited = imageList(r, EDITED_KEYS);
  const generic = edited ? null : imageList(r, IMAGE_KEYS);
  const cand = edited ?? generic;
  if (!cand)
    throw new RowError(
      "response",
      `missing the candidate images (${[...EDITED_KEYS, ...IMAGE_KEYS].slice(0, 4).join(", ")}, ...)`,
    );

  let paths = cand.paths;
  let sourcePath = base?.paths[0];
  let sourceField = base?.key;
  const label = r.label_rank;
  const labelLen = Array.isArray(label) ? label.length : null;
  const wantsEdit = options.task === "edit" || edited != null || base != null;
  if (wantsEdit && !sourcePath) {
    // The reference's convention: the base travels first in the image list when it is one longer
    // than the label, or when the row says so.
    if ((labelLen != null && paths.length === labelLen + 1) || r.response_includes_base === true) {
      sourcePath = paths[0];
      sourceField = `${cand.key}[0]`;
      paths = paths.slice(1);
    } else {
      throw new RowError("source_image", "an edit pair needs a source image");
    }
  }
  const task: Task = sourcePath ? "edit" : "t2i";
  if (options.task && options.task !== task) {
    throw new RowError(
      task === "edit" ? (sourceField ?? "source_image") : "source_image",
      `expected a ${options.task} pair, found a ${task} pair`,
    );
  }
  if (paths.length < 2)
    throw new RowError(cand.key, `expected at least 2 candidate images, got ${paths.length}`);

  let labelRank: number[] | undefined;
  if (label != null) {
    if (!Array.isArray(label) || label.length !== paths.length) {
      throw new RowError("label_rank", `expected ${paths.length} ranks (one per candidate)`);
    }
    if (!label.every((x) => Number.isInteger(x) && x >= 1 && x <= paths.length)) {
      throw new RowError(
        "label_rank",
        `expected integers 1..${paths.length} (1 = best), got ${JSON.stringify(label)}`,
      );
    }
    labelRank = label as number[];
  }

  const dir = dirname(file);
  const abs = (p: string) => (isUrl(p) || isAbsolute(p) ? p : resolve(dir, p));
  const images = paths.map(abs);
  const imageFields = images.map((path, i) => ({
    field: cand.key === sourceField?.split("[")[0] ? `${cand.key}[${i + 1}]` : `${cand.key}[${i}]`,
    path,
  }));
  const sourceImage = sourcePath ? abs(sourcePath) : undefined;
  if (sourceImage) imageFields.push({ field: sourceField ?? "source_image", path: sourceImage });

  const id =
    typeof r.id === "string" || typeof r.id === "number" ? String(r.id) : `${basename(file)}#${index}`;
  const categoryValue = r.category ?? r.task_type;
  const meta: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) if (!KNOWN.has(k)) meta[k] = v;

  const pair: PreferencePair = { id, task, prompt: prompt.value, images };
  if (sourceImage) pair.sourceImage = sourceImage;
  if (labelRank) pair.labelRank = labelRank;
  if (typeof categoryValue === "string" && categoryValue) pair.category = categoryValue;
  if (Object.keys(meta).length > 0) pair.meta = meta;
  return { pair, imageFields };
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Loads a pairs file (JSON array or JSONL); bad rows throw a `DatasetError` naming file, item and field. */
export async function loadPairs(
  file: string,
  options: LoadPairsOptions = {},
): Promise<{ pairs: PreferencePair[]; skipped: BadItem[] }> {
  const path = resolve(file);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new DatasetError(`cannot read pairs file ${file}`, {
      file: path,
      cause: error,
      hint: "check the path given to --pairs",
    });
  }

  // Rows with their position: 0-based item index (JSON array) or 1-based line (JSONL).
  const rows: Array<{ row: unknown; at: number; parseError?: string }> = [];
  const trimmed = text.trimStart();
  const jsonl = !trimmed.startsWith("[");
  if (!jsonl) {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new DatasetError(`${file}: not valid JSON (${(error as Error).message})`, {
        file: path,
        cause: error,
        hint: "use a JSON array of pair objects, or JSONL with one object per line",
      });
    }
    for (const [i, row] of (data as unknown[]).entries()) rows.push({ row, at: i });
  } else {
    text.split(/\r?\n/).forEach((line, i) => {
      if (line.trim() === "") return;
      try {
        rows.push({ row: JSON.parse(line), at: i + 1 });
      } catch (error) {
        rows.push({ row: null, at: i + 1, parseError: (error as Error).message });
      }
    });
  }
  const where = (at: number) => (jsonl ? `${file}:${at}` : `${file} item ${at}`);

  const pairs: PreferencePair[] = [];
  const skipped: BadItem[] = [];
  const checkFiles = options.checkFiles ?? true;
  for (const [index, { row, at, parseError }] of rows.entries()) {
    let field = "(row)";
    let message: string;
    try {
      if (parseError) throw new RowError("(row)", `not valid JSON (${parseError})`);
      const { pair, imageFields } = toPair(row, jsonl ? index : at, path, options);
      if (checkFiles) {
        for (const f of imageFields) {
          if (!isUrl(f.path) && !(await exists(f.path)))
            throw new RowError(f.field, `image not found: ${f.path}`);
        }
      }
      pairs.push(pair);
      continue;
    } catch (error) {
      if (!(error instanceof RowError)) throw error;
      field = error.field;
      message = error.message;
    }
    if (!options.skipBad) {
      throw new DatasetError(`${where(at)} field ${field}: ${message}`, {
        file: path,
        line: at,
        field,
        hint: "fix the row, or pass skipBad to skip bad rows",
      });
    }
    skipped.push({ file: path, line: at, field, message });
  }
  const ids = new Set<string>();
  for (const p of pairs) {
    if (ids.has(p.id)) {
      throw new DatasetError(`${file}: duplicate pair id "${p.id}"`, {
        file: path,
        field: "id",
        hint: "give every row a unique id (or omit ids to number rows)",
      });
    }
    ids.add(p.id);
  }
  return { pairs, skipped };
}

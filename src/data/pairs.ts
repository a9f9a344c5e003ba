/**
 * Preference pairs (2..N candidates) in the reference release's layout, from a JSON array or JSONL.
 * Keys: `query`/`prompt`/`instruction`; `image_paths`/`response`/`responses`/`images`/...; for edits
 * `source_image` (+ aliases; a path or a list of paths) and `edited_images` (+ aliases); optional
 * `label_rank` (1 = best). Relative image paths are resolved against the pairs file's folder.
 * Bad rows follow records.ts: an error naming file, row and field, or a counted skip.
 */
import { dirname, isAbsolute, resolve } from "node:path";
import type { Task } from "../config/schema.js";
import { BadField, collect, isUrl, readRecords, resolveImage, type SkippedItem } from "./records.js";
import type { PreferencePair } from "./types.js";

export type { PairwiseLabel, PreferencePair } from "./types.js";
export { isUrl };

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
  "source_images",
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
        throw new BadField(Array.isArray(v) ? `${key}[${i}]` : key, "expected an image path or URL string");
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
    if (v != null && typeof v !== "string") throw new BadField(key, `expected a string, got ${typeof v}`);
  }
  return null;
}

async function toPair(
  r: Record<string, unknown>,
  id: string,
  file: string,
  options: LoadPairsOptions,
): Promise<PreferencePair> {
  const prompt = firstString(r, PROMPT_KEYS);
  if (!prompt) throw new BadField("query", "missing the prompt (query, prompt or instruction)");

  const base = imageList(r, BASE_KEYS);
  const edited = imageList(r, EDITED_KEYS);
  const generic = edited ? null : imageList(r, IMAGE_KEYS);
  const cand = edited ?? generic;
  if (!cand)
    throw new BadField(
      "response",
      `missing the candidate images (${[...EDITED_KEYS, ...IMAGE_KEYS].slice(0, 4).join(", ")}, ...)`,
    );

  let paths = cand.paths;
  let sources = base ? base.paths.map((path, i) => ({ path, field: `${base.key}[${i}]` })) : [];
  if (base && !Array.isArray(r[base.key])) sources = [{ path: base.paths[0] as string, field: base.key }];
  let offset = 0;
  const label = r.label_rank;
  const labelLen = Array.isArray(label) ? label.length : null;
  const wantsEdit = options.task === "edit" || edited != null || base != null;
  if (wantsEdit && sources.length === 0) {
    // The reference's convention: the base travels first in the image list when it is one longer
    // than the label, or when the row says so.
    if ((labelLen != null && paths.length === labelLen + 1) || r.response_includes_base === true) {
      sources = [{ path: paths[0] as string, field: `${cand.key}[0]` }];
      paths = paths.slice(1);
      offset = 1;
    } else {
      throw new BadField("source_image", "an edit pair needs a source image");
    }
  }
  const task: Task = sources.length > 0 ? "edit" : "t2i";
  if (options.task && options.task !== task) {
    throw new BadField(
      task === "edit" ? (sources[0]?.field ?? "source_image") : "source_image",
      `expected a ${options.task} pair, found a ${task} pair`,
    );
  }
  if (paths.length < 2)
    throw new BadField(cand.key, `expected at least 2 candidate images, got ${paths.length}`);

  let labelRank: number[] | undefined;
  if (label != null) {
    if (!Array.isArray(label) || label.length !== paths.length) {
      throw new BadField("label_rank", `expected ${paths.length} ranks (one per candidate)`);
    }
    if (!label.every((x) => Number.isInteger(x) && x >= 1 && x <= paths.length)) {
      throw new BadField(
        "label_rank",
        `expected integers 1..${paths.length} (1 = best), got ${JSON.stringify(label)}`,
      );
    }
    labelRank = label as number[];
  }

  const dir = dirname(file);
  const check = options.checkFiles ?? true;
  const image = (path: string, field: string) =>
    check
      ? resolveImage(path, field, dir)
      : Promise.resolve(isUrl(path) || isAbsolute(path) ? path : resolve(dir, path));
  const images: string[] = [];
  for (const [i, path] of paths.entries()) images.push(await image(path, `${cand.key}[${i + offset}]`));
  const sourceImages: string[] = [];
  for (const s of sources) sourceImages.push(await image(s.path, s.field));

  const categoryValue = r.category ?? r.task_type;
  const meta: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) if (!KNOWN.has(k)) meta[k] = v;

  const pair: PreferencePair = { id, task, prompt: prompt.value, images };
  if (sourceImages.length > 0) pair.sourceImages = sourceImages;
  if (labelRank) pair.labelRank = labelRank;
  if (typeof categoryValue === "string" && categoryValue) pair.category = categoryValue;
  if (Object.keys(meta).length > 0) pair.meta = meta;
  return pair;
}

/**
 * Loads a pairs file (JSON array or JSONL); a bad row throws a `DatasetError` naming file, row and
 * field, or with `skipBad` is skipped and listed in `skipped`.
 */
export async function loadPairs(
  file: string,
  options: LoadPairsOptions = {},
): Promise<{ pairs: PreferencePair[]; skipped: SkippedItem[] }> {
  const path = resolve(file);
  const records = await readRecords(path);
  const { pairs, skipped } = await collect(path, records, { ...options, idKeys: ["id"] }, async (r, id) => ({
    pair: await toPair(r, id, path, options),
  }));
  return { pairs, skipped };
}

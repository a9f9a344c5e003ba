/**
 * MM-RewardBench2 (MMRB2), the text-to-image and image-editing subsets, in both layouts users have:
 *
 * - Parquet (Hugging Face `rl-research/multimodal-rewardbench-2`, configs `t2i/` and `edit/`,
 *   `test-0000K-of-0000N.parquet`): columns `pair_id`, `prompt_text`, `prompt_images` (list of
 *   Image), `response_{a,b}_text`, `response_{a,b}_images` (lists of Image), `chosen` ("A"/"B"),
 *   `prompt_source`, `response_{a,b}_model`, `human_annotations` and `prompt_metadata` (JSON strings).
 *   A dataset root holding both configs is narrowed to the one asked for.
 * - The authors' converted JSON (facebookresearch/MMRB2 `benchmark/build_from_hf.py`):
 *   `{ pairs: [{ id, prompt_content: [["text", ...] | ["image", "input_images/..."]], prompt_source,
 *   prompt_metadata, response_a / response_b: { model_name, response_content }, chosen }] }`, paths
 *   relative to the JSON's folder; the README's older names (`pair_id`, `model`,
 *   `human_preference`) are accepted as aliases.
 *
 * Every prompt image of an edit item is a source image, in order (edits can have 2-3 inputs that
 * the instruction calls "the first image", "the second image"). A response with several images
 * is judged on its first; such items are counted in `notes` and marked in `meta`.
 */
import { stat } from "node:fs/promises";
import { embeddedImage } from "../image-store.js";
import type { PreferencePair } from "../pairs.js";
import {
  findShards,
  imageStoreFor,
  isParquet,
  openShards,
  parquetRecords,
  shardFolders,
} from "../parquet.js";
import {
  type AdapterOptions,
  type AdapterResult,
  BadField,
  collect,
  imageRootOf,
  readRecords,
  resolveImage,
} from "../records.js";

type Task = "t2i" | "edit";

/** The columns of the parquet release this adapter reads. */
export const MMRB2_COLUMNS = [
  "pair_id",
  "prompt_text",
  "prompt_images",
  "response_a_images",
  "response_b_images",
  "chosen",
] as const;

export const MULTI_IMAGE_NOTE = "responses with several images (first judged)";

function chosenRank(value: unknown, field: string): number[] {
  const chosen = String(value ?? "").toUpperCase();
  if (chosen !== "A" && chosen !== "B")
    throw new BadField(field, `expected "A" or "B", got ${JSON.stringify(value)}`);
  return chosen === "A" ? [1, 2] : [2, 1];
}

function parseJsonString(value: unknown): unknown {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

interface Parts {
  /** Where the prompt text and images live (`prompt_text` / `prompt_images`, or `prompt_content`). */
  fields: { prompt: string; sources: string };
  id: string;
  task: Task;
  prompt: string;
  sources: string[];
  responses: [string[], string[]];
  /** The `chosen` value and the field it came from. */
  chosen: { value: unknown; field: string };
  category: unknown;
  meta: Record<string, unknown>;
}

/** The item both layouts come down to; counts multi-image responses. */
function toPair(p: Parts, notes: Record<string, number>): PreferencePair {
  if (p.prompt.trim() === "") throw new BadField(p.fields.prompt, "no prompt text");
  if (p.task === "edit" && p.sources.length === 0)
    throw new BadField(p.fields.sources, "edit item without a source image");
  const meta = { ...p.meta };
  p.responses.forEach((images, k) => {
    const side = k === 0 ? "a" : "b";
    if (images.length === 0) throw new BadField(`response_${side}_images`, "no image in the response");
    if (images.length > 1) {
      meta[`response_${side}_image_count`] = images.length;
      notes[MULTI_IMAGE_NOTE] = (notes[MULTI_IMAGE_NOTE] ?? 0) + 1;
    }
  });
  return {
    id: p.id,
    task: p.task,
    prompt: p.prompt,
    ...(p.task === "edit" ? { sourceImages: p.sources } : {}),
    images: [p.responses[0][0] as string, p.responses[1][0] as string],
    labelRank: chosenRank(p.chosen.value, p.chosen.field),
    ...(typeof p.category === "string" && p.category ? { category: p.category } : {}),
    meta,
  };
}

async function loadParquet(path: string, task: Task, options: AdapterOptions): Promise<AdapterResult> {
  let files = await findShards(path);
  // A dataset root with one folder per config: keep the asked config's shards.
  const inConfig = files.filter((f) => shardFolders(path, f).includes(task));
  if (inConfig.length > 0) files = inConfig;
  const shards = await openShards(files, `mmrb2-${task}`, MMRB2_COLUMNS);
  const store = imageStoreFor(options);
  const notes: Record<string, number> = {};
  const images = async (value: unknown, field: string, root: string) => {
    if (value == null) return [];
    if (!Array.isArray(value)) throw new BadField(field, "expected a list of images");
    const out: string[] = [];
    for (const [i, v] of value.entries()) out.push(await embeddedImage(v, `${field}[${i}]`, store, root));
    return out;
  };
  const result = await collect(path, parquetRecords(shards), options, async (r, id, raw) => {
    const root = imageRootOf(raw.file, options);
    const meta: Record<string, unknown> = {};
    for (const key of ["response_a_model", "response_b_model", "prompt_metadata", "human_annotations"]) {
      if (r[key] != null) meta[key] = parseJsonString(r[key]);
    }
    return {
      pair: toPair(
        {
          fields: { prompt: "prompt_text", sources: "prompt_images" },
          id,
          task,
          prompt: typeof r.prompt_text === "string" ? r.prompt_text : "",
          sources: await images(r.prompt_images, "prompt_images", root),
          responses: [
            await images(r.response_a_images, "response_a_images", root),
            await images(r.response_b_images, "response_b_images", root),
          ],
          chosen: { value: r.chosen, field: "chosen" },
          category: r.prompt_source,
          meta,
        },
        notes,
      ),
    };
  });
  return { ...result, notes };
}

type Content = [string, string][];

function content(value: unknown, field: string): Content {
  if (!Array.isArray(value)) throw new BadField(field, "missing or not a list of [type, value] entries");
  return value.filter(
    (e): e is [string, string] => Array.isArray(e) && typeof e[0] === "string" && typeof e[1] === "string",
  );
}

async function loadJson(file: string, task: Task, options: AdapterOptions): Promise<AdapterResult> {
  const root = imageRootOf(file, options);
  const notes: Record<string, number> = {};
  const records = await readRecords(file, "pairs");
  const result = await collect(file, records, options, async (r, id) => {
    const prompt = content(r.prompt_content, "prompt_content");
    const imagesOf = async (entries: Content, field: string) => {
      const out: string[] = [];
      for (const e of entries) if (e[0] === "image") out.push(await resolveImage(e[1], field, root));
      return out;
    };
    const response = async (key: "response_a" | "response_b") => {
      const resp = r[key];
      if (typeof resp !== "object" || resp === null) throw new BadField(key, "missing response object");
      const v = resp as Record<string, unknown>;
      const field = `${key}.response_content`;
      return {
        images: await imagesOf(content(v.response_content, field), field),
        model: v.model_name ?? v.model,
      };
    };
    const a = await response("response_a");
    const b = await response("response_b");
    const chosenField = r.chosen !== undefined ? "chosen" : "human_preference";
    const meta: Record<string, unknown> = { model_a: a.model, model_b: b.model };
    if (r.prompt_metadata !== undefined) meta.prompt_metadata = r.prompt_metadata;
    if (r.human_annotations !== undefined) meta.human_annotations = r.human_annotations;
    return {
      pair: toPair(
        {
          fields: { prompt: "prompt_content", sources: "prompt_content" },
          id,
          task,
          prompt: prompt
            .filter((e) => e[0] === "text")
            .map((e) => e[1])
            .join("\n")
            .trim(),
          sources: await imagesOf(prompt, "prompt_content"),
          responses: [a.images, b.images],
          chosen: { value: r[chosenField], field: chosenField },
          category: r.prompt_source,
          meta,
        },
        notes,
      ),
    };
  });
  return { ...result, notes };
}

export async function loadMmrb2(
  path: string,
  task: Task,
  options: AdapterOptions = {},
): Promise<AdapterResult> {
  const info = await stat(path).catch(() => null);
  return info?.isDirectory() || isParquet(path)
    ? loadParquet(path, task, options)
    : loadJson(path, task, options);
}

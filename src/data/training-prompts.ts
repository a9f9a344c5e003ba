/**
 * Training prompt datasets. TypeScript owns every user-facing format and hands the workers one
 * normalised file (`prompts.jsonl`, rows `{prompt, source_image}` with absolute paths), so the
 * Python side never parses user data.
 *
 * Formats:
 * - text: one prompt per line (blank lines and `#` comments skipped).
 * - jsonl: `{"prompt": ...}` (also `caption` or `text`) per line.
 * - edit-jsonl: `{"source_image": ..., "instruction": ...}` per line, paths relative to the file.
 * - sharegpt-4o-image: Hugging Face `FreedomIntelligence/ShareGPT-4o-Image` (the paper's RL prompts),
 *   `text_to_image.json` and `text_and_image_to_image.json`: arrays of `{input_prompt, output_image}`,
 *   plus `input_image` (a list of paths relative to the JSON's folder, as the authors'
 *   `train_janus.py` reads them) for editing. The path may be either JSON file or the dataset folder
 *   (the file is then picked by the task). Images ship in `*_part_N.tar` files that must be
 *   extracted next to the JSON; only the prompts (and source images for edits) are used, the GPT-4o
 *   output images are not needed for online RL.
 */
import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, extname, isAbsolute, join, resolve } from "node:path";
import type { DatasetConfig, Task } from "../config/schema.js";
import { DatasetError } from "../errors.js";

/** One training prompt; `sourceImage` is an absolute path for edits. */
export interface PromptRow {
  prompt: string;
  sourceImage: string | null;
}

export type PromptFormat = Exclude<DatasetConfig["format"], "auto">;

const SHAREGPT_T2I_FILE = "text_to_image.json";
const SHAREGPT_EDIT_FILE = "text_and_image_to_image.json";

const CJK = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]/;

/** Picks the format from the file name when the config says `auto`. */
export function detectFormat(path: string, task: Task): PromptFormat {
  const ext = extname(path).toLowerCase();
  if (ext === ".txt") return "text";
  if (ext === ".jsonl") return task === "edit" ? "edit-jsonl" : "jsonl";
  if (ext === ".json" || (existsSync(path) && statSync(path).isDirectory())) return "sharegpt-4o-image";
  throw new DatasetError(`${path}: cannot tell the dataset format from the extension "${ext}"`, {
    file: path,
    hint: "set train.dataset.format to text, jsonl, edit-jsonl or sharegpt-4o-image",
  });
}

/** Loads and validates a training dataset; every bad row is an error naming its line. */
export async function loadPromptDataset(config: DatasetConfig, task: Task): Promise<PromptRow[]> {
  let file = config.path;
  if (!existsSync(file)) {
    throw new DatasetError(`${file}: dataset file not found`, {
      file,
      hint: "check train.dataset.path (relative paths are resolved against the config file's folder)",
    });
  }
  const format = config.format === "auto" ? detectFormat(config.path, task) : config.format;
  if (format === "sharegpt-4o-image" && statSync(file).isDirectory()) {
    file = join(file, task === "edit" ? SHAREGPT_EDIT_FILE : SHAREGPT_T2I_FILE);
    if (!existsSync(file)) {
      throw new DatasetError(`${file}: not found in the ShareGPT-4o-Image folder`, {
        file,
        hint: `download ${SHAREGPT_T2I_FILE} / ${SHAREGPT_EDIT_FILE} from FreedomIntelligence/ShareGPT-4o-Image`,
      });
    }
  }
  const text = await readFile(file, "utf8");
  let rows: PromptRow[];
  switch (format) {
    case "text":
      rows = parseTextPrompts(text);
      break;
    case "jsonl":
      rows = parseJsonlObjects(text, file).map(({ value, line }) => ({
        prompt: promptField(value, file, line),
        sourceImage: null,
      }));
      break;
    case "edit-jsonl":
      rows = parseJsonlObjects(text, file).map(({ value, line }) => editRow(value, file, line));
      break;
    case "sharegpt-4o-image":
      rows = parseShareGpt4oImage(text, file, task);
      break;
  }
  if (config.drop_cjk) rows = rows.filter((row) => !CJK.test(row.prompt));
  if (config.limit !== null) rows = rows.slice(0, config.limit);
  if (rows.length === 0) {
    throw new DatasetError(`${file}: the dataset has no usable prompts`, {
      file,
      hint: "add prompts, or check train.dataset.format and drop_cjk",
    });
  }
  if (task === "edit" && rows.some((row) => row.sourceImage === null)) {
    throw new DatasetError(`${file}: an editing run needs a source image on every row`, {
      file,
      hint: 'use the edit-jsonl format: {"source_image": "...", "instruction": "..."}',
    });
  }
  return rows;
}

export function parseTextPrompts(text: string): PromptRow[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith("#"))
    .map((prompt) => ({ prompt, sourceImage: null }));
}

/** JSON Lines of objects (blank lines skipped); a bad line is an error naming the file and line. */
export function parseJsonlObjects(
  text: string,
  file: string,
): Array<{ value: Record<string, unknown>; line: number }> {
  const out: Array<{ value: Record<string, unknown>; line: number }> = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (cause) {
      throw new DatasetError(`${file}:${line}: not valid JSON (${(cause as Error).message})`, {
        file,
        line,
        cause,
        hint: "one JSON object per line",
      });
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new DatasetError(`${file}:${line}: expected a JSON object`, {
        file,
        line,
        hint: "one JSON object per line",
      });
    }
    out.push({ value: value as Record<string, unknown>, line });
  });
  return out;
}

function promptField(value: Record<string, unknown>, file: string, line: number): string {
  for (const key of ["prompt", "caption", "text"]) {
    const v = value[key];
    if (typeof v === "string" && v.trim() !== "") return v.trim();
  }
  throw new DatasetError(`${file}:${line}: missing field "prompt"`, {
    file,
    line,
    field: "prompt",
    hint: 'each line needs {"prompt": "..."} (or "caption" / "text")',
  });
}

function editRow(value: Record<string, unknown>, file: string, line: number): PromptRow {
  const instruction = value.instruction ?? value.prompt;
  if (typeof instruction !== "string" || instruction.trim() === "") {
    throw new DatasetError(`${file}:${line}: missing field "instruction"`, {
      file,
      line,
      field: "instruction",
      hint: 'each line needs {"source_image": "...", "instruction": "..."}',
    });
  }
  const source = value.source_image;
  if (typeof source !== "string" || source === "") {
    throw new DatasetError(`${file}:${line}: missing field "source_image"`, {
      file,
      line,
      field: "source_image",
      hint: "give the source image path, relative to the dataset file",
    });
  }
  return { prompt: instruction.trim(), sourceImage: existingImage(source, file, line, "source_image") };
}

function existingImage(path: string, file: string, line: number, field: string): string {
  const absolute = isAbsolute(path) ? path : resolve(dirname(file), path);
  if (!existsSync(absolute)) {
    throw new DatasetError(`${file}:${line}: ${field} "${path}" does not exist`, {
      file,
      line,
      field,
      hint: "paths are relative to the dataset file's folder",
    });
  }
  return absolute;
}

function parseShareGpt4oImage(text: string, file: string, task: Task): PromptRow[] {
  let items: unknown;
  try {
    items = JSON.parse(text);
  } catch (cause) {
    throw new DatasetError(`${file}: not valid JSON`, {
      file,
      cause,
      hint: "expected the dataset's JSON array",
    });
  }
  if (!Array.isArray(items)) {
    throw new DatasetError(`${file}: expected a JSON array of samples`, { file });
  }
  const missing: { index: number; path: string }[] = [];
  const rows = items.map((item, index) => {
    const where = `${file}: item ${index}`;
    if (typeof item !== "object" || item === null) {
      throw new DatasetError(`${where}: expected an object`, { file, line: index });
    }
    const record = item as Record<string, unknown>;
    const prompt = record.input_prompt ?? record.prompt;
    if (typeof prompt !== "string" || prompt.trim() === "") {
      throw new DatasetError(`${where}: missing field "input_prompt"`, {
        file,
        line: index,
        field: "input_prompt",
      });
    }
    if (task !== "edit") return { prompt: prompt.trim(), sourceImage: null };
    const images = record.input_image;
    const first = Array.isArray(images) ? images[0] : images;
    if (typeof first !== "string") {
      throw new DatasetError(`${where}: missing field "input_image"`, {
        file,
        line: index,
        field: "input_image",
        hint: "editing runs need the text-and-image-to-image part of the dataset",
      });
    }
    const path = isAbsolute(first) ? first : resolve(dirname(file), first);
    if (!existsSync(path)) missing.push({ index, path });
    return { prompt: prompt.trim(), sourceImage: path };
  });
  if (missing.length > 0) {
    const first = missing[0] as { index: number; path: string };
    throw new DatasetError(
      `${file}: ${missing.length} of ${items.length} items name input images that are not on disk (first: item ${first.index}, ${first.path})`,
      {
        file,
        line: first.index,
        field: "input_image",
        hint: `extract the dataset's *_part_N.tar files into ${dirname(file)} (e.g. for f in ${dirname(file)}/*_part_*.tar; do tar -xf "$f" -C ${dirname(file)}; done)`,
      },
    );
  }
  return rows;
}

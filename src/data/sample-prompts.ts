/**
 * Prompts for `arr sample`: text (one prompt per line) or JSONL rows kept verbatim as metadata, so
 * GenEval's `evaluation_metadata.jsonl` lines reach its evaluator's folder layout unchanged.
 */
import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import { DatasetError } from "../errors.js";
import { parseJsonlObjects, parseTextPrompts } from "./training-prompts.js";

/** One prompt to sample. */
export interface SamplePrompt {
  /** The text prompt (or edit instruction). */
  prompt: string;
  /** The row as read from a JSONL file (GenEval metadata is copied verbatim); null for text lines. */
  metadata: Record<string, unknown> | null;
  /** Absolute path of an edit's source image. */
  sourceImage: string | null;
}

/** A JSONL row kept verbatim as metadata, with its prompt and (resolved) source image. */
function metadataRow(r: Record<string, unknown>, file: string, line: number): SamplePrompt {
  const key = ["prompt", "caption", "text", "instruction"].find(
    (k) => typeof r[k] === "string" && r[k] !== "",
  );
  if (!key) {
    throw new DatasetError(`${file}:${line}: no "prompt" string`, {
      file,
      line,
      field: "prompt",
      hint: 'each row needs "prompt" (GenEval metadata has it), "caption", "text" or "instruction"',
    });
  }
  const source = r.source_image;
  if (source !== undefined && typeof source !== "string") {
    throw new DatasetError(`${file}:${line}: "source_image" must be a path string`, {
      file,
      line,
      field: "source_image",
    });
  }
  return {
    prompt: r[key] as string,
    metadata: r,
    sourceImage: source ? (isAbsolute(source) ? source : resolve(dirname(file), source)) : null,
  };
}

/**
 * Reads prompts: `.jsonl` rows with `prompt` (or `caption`, `text`, `instruction`) and an optional
 * `source_image` relative to the file, e.g. GenEval's `evaluation_metadata.jsonl`; anything else is
 * text, one prompt per line (blank lines and `#` comments skipped).
 */
export async function readSamplePrompts(file: string): Promise<SamplePrompt[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new DatasetError(`cannot read prompts file ${file}`, {
      file,
      cause: error,
      hint: "pass an existing .txt (one prompt per line) or .jsonl file",
    });
  }
  const rows: SamplePrompt[] = /\.jsonl$/i.test(file)
    ? parseJsonlObjects(text, file).map(({ value, line }) => metadataRow(value, file, line))
    : parseTextPrompts(text).map(({ prompt }) => ({ prompt, metadata: null, sourceImage: null }));
  if (rows.length === 0) {
    throw new DatasetError(`${file}: no prompts`, { file, hint: "the file is empty or has only comments" });
  }
  return rows;
}

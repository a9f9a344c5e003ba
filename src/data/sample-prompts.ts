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
  /** 1-based line in the prompts file, when read from one. */
  line?: number;
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
    line,
    metadata: r,
    sourceImage: source ? (isAbsolute(source) ? source : resolve(dirname(file), source)) : null,
  };
}

const GENEVAL_HINT =
  "--layout geneval copies each line into the folders GenEval's evaluator reads, and it crashes on metadata without tag/include: use prompts/evaluation_metadata.jsonl from djghosh13/geneval, or --layout flat";

/** Why a prompt row cannot be GenEval metadata (null when it can): GenEval reads `tag` and `include`. */
export function genevalProblem(metadata: Record<string, unknown> | null): string | null {
  if (!metadata) return "a text line, not a GenEval metadata object";
  if (typeof metadata.tag !== "string" || metadata.tag === "") return 'no "tag" string';
  if (!Array.isArray(metadata.include)) return 'no "include" list';
  return null;
}

/** Refuses prompts that are not GenEval metadata (the `geneval` layout writes them verbatim). */
export function checkGenevalPrompts(prompts: readonly SamplePrompt[], file?: string): void {
  for (const [i, p] of prompts.entries()) {
    const problem = genevalProblem(p.metadata);
    if (!problem) continue;
    const at = p.line !== undefined && file ? `${file}:${p.line}` : `${file ?? "prompt"} ${i + 1}`;
    throw new DatasetError(`${at}: not GenEval metadata (${problem})`, {
      ...(file ? { file } : {}),
      ...(p.line !== undefined ? { line: p.line } : {}),
      field: problem.includes("include") ? "include" : "tag",
      hint: GENEVAL_HINT,
    });
  }
}

/**
 * Reads prompts: `.jsonl` rows with `prompt` (or `caption`, `text`, `instruction`) and an optional
 * `source_image` relative to the file, e.g. GenEval's `evaluation_metadata.jsonl`; anything else is
 * text, one prompt per line (blank lines and `#` comments skipped).
 */
export async function readSamplePrompts(
  file: string,
  options: { layout?: "flat" | "geneval" } = {},
): Promise<SamplePrompt[]> {
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
  if (options.layout === "geneval") checkGenevalPrompts(rows, file);
  return rows;
}

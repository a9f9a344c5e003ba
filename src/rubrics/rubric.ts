/**
 * The rubric file: what induction writes and what the judge loads. One schema, YAML or JSON by
 * extension, with the provenance needed to tell how a rubric was made (seeds, model, parameters,
 * templates, each pair's fate, tokens and cost).
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { isMap, isSeq, LineCounter, parseDocument } from "yaml";
import { z } from "zod";
import { TaskSchema } from "../config/schema.js";
import { RubricError } from "../errors.js";
import { writeFileAtomic } from "../util/atomic-write.js";

export const RUBRIC_FORMAT = "autorubric.rubric";

/** One merged theme with its concrete tips (the paper's Theme-Tips hierarchy). */
export const ThemeSchema = z
  .object({
    theme: z.string().trim().min(1).describe("short statement of one quality dimension"),
    tips: z.array(z.string().trim().min(1)).min(1).describe("concrete, checkable tips under the theme"),
  })
  .strict();

/** What happened to one seed pair during induction. */
export const PairFateSchema = z
  .object({
    id: z.string().describe("pair id from the seed file"),
    fate: z
      .enum(["passed", "dropped", "failed"])
      .describe("passed: the blind judge matched the human; dropped: never matched; failed: a call failed"),
    round: z
      .number()
      .int()
      .nonnegative()
      .nullable()
      .describe("verification round that passed (0: first time, r: after r refinements)"),
    reason: z.string().nullable().describe("why it was dropped or failed"),
    criteria: z.array(z.string()).describe("the last criteria set of this pair"),
    calls: z
      .number()
      .int()
      .nonnegative()
      .describe("VLM requests this pair needed, whether paid in this run or answered from the cache"),
  })
  .strict();

export const InductionStatsSchema = z
  .object({
    pairs: z.number().int().nonnegative(),
    passed_first_time: z.number().int().nonnegative(),
    passed_after_refinement: z.number().int().nonnegative(),
    dropped: z.number().int().nonnegative(),
    failed: z.number().int().nonnegative().describe("pairs lost to call failures, not to verification"),
  })
  .strict();

export const UsageSummarySchema = z
  .object({
    calls: z.number().int().nonnegative().describe("calls paid for in the run that wrote the file"),
    cached_calls: z.number().int().nonnegative().describe("calls answered from the cache"),
    prompt_tokens: z.number().int().nonnegative(),
    completion_tokens: z.number().int().nonnegative(),
    cost: z.number().nonnegative().describe("in the currency of the configured price table"),
  })
  .strict();

export const ProvenanceSchema = z
  .object({
    mode: z.enum(["seeded", "zero-shot", "manual"]),
    seeds: z
      .object({
        file: z.string().nullable(),
        sha256: z.string().nullable().describe("sha256 of the seed file's bytes"),
        pairs: z.number().int().nonnegative(),
      })
      .strict()
      .nullable(),
    pairs: z.array(PairFateSchema).default([]),
    stats: InductionStatsSchema.nullable().default(null),
    categorization: z
      .object({
        status: z.enum(["merged", "fallback", "off"]),
        reason: z.string().nullable(),
      })
      .strict(),
    model: z.string().nullable().describe("model that wrote the criteria"),
    judge_model: z.string().nullable().describe("model that verified them"),
    parameters: z.record(z.string(), z.unknown()).describe("induction and judge parameters used"),
    templates: z
      .object({ induction: z.string(), judge: z.string().nullable() })
      .strict()
      .describe("template versions"),
    task_description: z.string().nullable(),
    usage: UsageSummarySchema,
    created_at: z.string().describe("ISO 8601 date"),
    autorubric_version: z.string(),
  })
  .strict();

/** A rubric file. `criteria` is never empty: a rubric with nothing verified is an error, not a file. */
export const RubricFileSchema = z
  .object({
    format: z.literal(RUBRIC_FORMAT),
    version: z.literal(1),
    task: TaskSchema,
    language: z.enum(["en", "zh"]).default("en"),
    themes: z.array(ThemeSchema).default([]).describe("empty when categorization is off or failed"),
    criteria: z.array(z.string().trim().min(1)).min(1).describe("the flat verified criteria"),
    provenance: ProvenanceSchema.nullable().default(null).describe("null for a hand-written rubric"),
  })
  .strict();

export type Theme = z.infer<typeof ThemeSchema>;
export type PairFate = z.infer<typeof PairFateSchema>;
export type InductionStats = z.infer<typeof InductionStatsSchema>;
export type UsageSummary = z.infer<typeof UsageSummarySchema>;
export type Provenance = z.infer<typeof ProvenanceSchema>;
export type RubricFile = z.infer<typeof RubricFileSchema>;

/** What the judge takes: the exact text it conditions on and that text's hash. */
export interface JudgeRubric {
  text: string;
  hash: string;
}

/** A rubric file as loaded: the parsed file plus the rendered judge text and its hash. */
export interface LoadedRubric extends JudgeRubric {
  /** Absolute or caller-given path of the file. */
  file: string;
  rubric: RubricFile;
}

/** sha256 (hex) of the rendered text; goes into every verdict and cache key. */
export function rubricHash(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** Numbered list, one criterion per line: the verification form and the fallback layout. */
export function renderCriteriaList(criteria: readonly string[]): string {
  return criteria.map((c, i) => `${i + 1}. ${oneLine(c)}`).join("\n");
}

/**
 * The judge-facing text: themes with tips when there are any (§3.3 of the paper notes, our own
 * layout), else the flat numbered criteria.
 */
export function renderRubricText(rubric: Pick<RubricFile, "themes" | "criteria">): string {
  if (rubric.themes.length === 0) return renderCriteriaList(rubric.criteria);
  return rubric.themes
    .map((t, i) =>
      [`Theme ${i + 1}: ${oneLine(t.theme)}`, ...t.tips.map((tip) => `- ${oneLine(tip)}`)].join("\n"),
    )
    .join("\n\n");
}

/** The rubric a verification judge is conditioned on: exactly the candidate criteria, numbered. */
export function criteriaRubric(criteria: readonly string[]): JudgeRubric {
  const text = renderCriteriaList(criteria);
  return { text, hash: rubricHash(text) };
}

/** Wraps a parsed rubric file into what the judge takes. */
export function toLoadedRubric(file: string, rubric: RubricFile): LoadedRubric {
  const text = renderRubricText(rubric);
  return { file, rubric, text, hash: rubricHash(text) };
}

function formatOf(path: string): "yaml" | "json" {
  const ext = extname(path).toLowerCase();
  if (ext === ".json") return "json";
  if (ext === ".yaml" || ext === ".yml") return "yaml";
  throw new RubricError(`${path}: unknown rubric file extension "${ext || "(none)"}"`, {
    hint: "name the rubric file *.yaml, *.yml or *.json",
  });
}

/** Validates raw data as a rubric file; `where` maps a field path to "file:line:col" for messages. */
export function parseRubric(
  data: unknown,
  file: string,
  where: (path: PropertyKey[]) => string = () => file,
): RubricFile {
  const result = RubricFileSchema.safeParse(data);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue?.path ?? [];
  const field = path.length > 0 ? path.map(String).join(".") : "(top level)";
  throw new RubricError(`${where(path)} ${field}: ${issue?.message ?? "invalid rubric"}`, {
    hint:
      path[0] === "format" || path[0] === "version"
        ? `a rubric file starts with format: ${RUBRIC_FORMAT} and version: 1 (write one with \`arr rubrics induce\`)`
        : /received object/.test(issue?.message ?? "")
          ? 'in YAML, quote a criterion or tip that contains ": " (it is read as a mapping otherwise)'
          : "fix that field, or regenerate the file with `arr rubrics induce`",
  });
}

/** Reads and validates a rubric file (YAML or JSON by extension). Errors name the file, line and field. */
export async function loadRubric(path: string): Promise<LoadedRubric> {
  const format = formatOf(path);
  let raw: string;
  try {
    raw = await readFile(path, "utf8");
  } catch (error) {
    throw new RubricError(`${path}: cannot read rubric file`, {
      hint: "check the path (judge.rubric_file is relative to the config that sets it)",
      cause: error,
    });
  }
  if (format === "json") {
    let data: unknown;
    try {
      data = JSON.parse(raw);
    } catch (error) {
      throw new RubricError(`${path}: not valid JSON (${(error as Error).message})`, {
        hint: "fix the JSON syntax, or use a .yaml rubric file",
        cause: error,
      });
    }
    return toLoadedRubric(path, parseRubric(data, path));
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(raw, { lineCounter, prettyErrors: false });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const pos = yamlError.linePos?.[0];
    throw new RubricError(
      `${path}${pos ? `:${pos.line}:${pos.col}` : ""}: ${yamlError.message.split("\n")[0]}`,
      {
        hint: "fix the YAML syntax",
      },
    );
  }
  const where = (fieldPath: PropertyKey[]): string => {
    // Walk to the deepest node that exists, so a missing key points at its parent.
    let node: unknown = doc.contents;
    let range: [number, number, number] | undefined = (node as { range?: [number, number, number] })?.range;
    for (const key of fieldPath) {
      if (isMap(node) || isSeq(node)) {
        const next = node.get(key as never, true);
        if (next === undefined) break;
        node = next;
        range = (node as { range?: [number, number, number] }).range ?? range;
      } else break;
    }
    if (!range) return path;
    const pos = lineCounter.linePos(range[0]);
    return `${path}:${pos.line}:${pos.col}`;
  };
  return toLoadedRubric(path, parseRubric(doc.toJS(), path, where));
}

/** Serialises a rubric file in the format its extension names. */
export async function serializeRubric(path: string, rubric: RubricFile): Promise<string> {
  const checked = parseRubric(rubric, path);
  if (formatOf(path) === "json") return `${JSON.stringify(checked, null, 2)}\n`;
  const { stringify } = await import("yaml");
  return stringify(checked, { lineWidth: 0 });
}

/** Writes a rubric file atomically (temp file + rename), so a crash never leaves half a rubric. */
export async function saveRubric(path: string, rubric: RubricFile): Promise<void> {
  await writeFileAtomic(path, await serializeRubric(path, rubric));
}

/** Markdown for `arr rubrics show`: themes, criteria, statistics and provenance. */
export function renderRubricMarkdown(rubric: RubricFile, title = "Rubric"): string {
  const out: string[] = [`# ${title}`, "", `Task: ${rubric.task} · language: ${rubric.language}`, ""];
  if (rubric.themes.length > 0) {
    out.push("## Themes", "");
    rubric.themes.forEach((t, i) => {
      out.push(`### ${i + 1}. ${oneLine(t.theme)}`, "", ...t.tips.map((tip) => `- ${oneLine(tip)}`), "");
    });
  }
  out.push(`## Verified criteria (${rubric.criteria.length})`, "");
  rubric.criteria.forEach((c, i) => {
    out.push(`${i + 1}. ${oneLine(c)}`);
  });
  out.push("");
  const p = rubric.provenance;
  if (!p) {
    out.push("_No provenance (hand-written rubric)._", "");
    return out.join("\n");
  }
  if (p.stats) {
    const s = p.stats;
    out.push(
      "## Statistics",
      "",
      "| pairs | passed first time | passed after refinement | dropped | failed |",
      "|---|---|---|---|---|",
      `| ${s.pairs} | ${s.passed_first_time} | ${s.passed_after_refinement} | ${s.dropped} | ${s.failed} |`,
      "",
    );
  }
  const u = p.usage;
  out.push(
    "## Provenance",
    "",
    `- mode: ${p.mode}`,
    `- seeds: ${p.seeds ? `${p.seeds.file ?? "(in memory)"} (${p.seeds.pairs} pairs, sha256 ${p.seeds.sha256 ?? "n/a"})` : "none"}`,
    `- model: ${p.model ?? "n/a"}; verified by: ${p.judge_model ?? "n/a"}`,
    `- templates: induction ${p.templates.induction}, judge ${p.templates.judge ?? "n/a"}`,
    `- categorization: ${p.categorization.status}${p.categorization.reason ? ` (${p.categorization.reason})` : ""}`,
    `- parameters: ${Object.entries(p.parameters)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(", ")}`,
    `- usage: ${u.calls} calls paid, ${u.cached_calls} from cache, ${u.prompt_tokens} prompt + ${u.completion_tokens} completion tokens, cost ${u.cost.toFixed(4)}`,
    `- created: ${p.created_at} by autorubric ${p.autorubric_version}`,
  );
  if (p.task_description) out.push(`- task description: ${oneLine(p.task_description)}`);
  out.push("");
  if (p.pairs.length > 0) {
    out.push("## Seed pairs", "", "| pair | fate | round | calls | reason |", "|---|---|---|---|---|");
    for (const f of p.pairs) {
      out.push(
        `| ${escapeCell(f.id)} | ${f.fate} | ${f.round ?? "—"} | ${f.calls} | ${escapeCell(f.reason ?? "")} |`,
      );
    }
    out.push("");
  }
  return out.join("\n");
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

function escapeCell(text: string): string {
  return oneLine(text).replace(/\|/g, "\\|");
}

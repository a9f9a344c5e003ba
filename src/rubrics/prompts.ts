/**
 * Induction templates (ours, versioned): generation, refinement, categorization and zero-shot, for
 * text-to-image and editing, in English and Chinese, plus the pure parsers for their replies.
 *
 * Layout follows the judge's: images first, each after a text label, then the instructions; the
 * last line always spells the JSON shape with its literal keys, because with `json_object` or no
 * structured output the schema name never reaches the server (docs/ARCHITECTURE.md, VLM client).
 */
import type { Task } from "../config/schema.js";
import { sourceLabel, sourceName } from "../judge/prompt.js";
import { type ChatMessage, type ContentPart, imagePart, type VlmRequest } from "../vlm/client.js";
import { findJsonObject, stripThinking } from "../vlm/json-reply.js";
import { renderCriteriaList } from "./rubric.js";

/** Bump whenever a template's wording changes: it is part of every induction cache key and provenance. */
export const INDUCTION_TEMPLATE_VERSION = "arr-induce/1";

export type Language = "en" | "zh";

/** The images of one pair, already encoded as URLs (data URLs or http). */
export interface PairImages {
  /** Source images of an edit ("Image BASE", or "Image BASE 1", "Image BASE 2", ...); absent for text-to-image. */
  sources?: string[];
  /** Candidates in the seed file's order. */
  candidates: string[];
}

/** What generation needs to know about a seed pair (the label is shown here, never to the verifier). */
export interface GenerationInput {
  task: Task;
  language: Language;
  /** K: exactly this many criteria are asked for. */
  count: number;
  /** Prompt (t2i) or edit instruction. */
  prompt: string;
  images: PairImages;
  /** Human ranking, 1 = best, aligned with `images.candidates`. */
  labelRank: number[];
  taskDescription?: string | null;
  /** Optional edit-operation tags from the seed row. */
  editTags?: string | null;
}

/** What the blind judge did with the previous criteria, fed back to the generator. */
export interface RefinementFeedback {
  /** The judge's ranking, or null when it tied or gave no valid answer. */
  judgeRanking: number[] | null;
  /** "tie" | "invalid" | "decided": shown so the model knows why there is no ranking. */
  outcome: "decided" | "tie" | "invalid";
  judgeReason: string;
}

export interface RefinementInput extends GenerationInput {
  previous: string[];
  feedback: RefinementFeedback;
}

export interface CategorizationInput {
  task: Task;
  language: Language;
  /** At most this many themes. */
  maxThemes: number;
  criteria: string[];
  taskDescription?: string | null;
}

export interface ZeroShotInput {
  task: Task;
  language: Language;
  count: number;
  taskDescription: string;
}

/** JSON schema of an `arr_criteria` reply with exactly `count` items. */
export function criteriaSchema(count: number): Record<string, unknown> {
  return {
    type: "object",
    properties: {
      criteria: { type: "array", items: { type: "string" }, minItems: count, maxItems: count },
      reason: { type: "string" },
    },
    required: ["criteria", "reason"],
    additionalProperties: false,
  };
}

/** JSON schema of an `arr_categories` reply. */
export function categoriesSchema(maxThemes: number): Record<string, unknown> {
  return {
    type: "object",
    properties: {
      categories: {
        type: "array",
        minItems: 1,
        maxItems: maxThemes,
        items: {
          type: "object",
          properties: { theme: { type: "string" }, tips: { type: "array", items: { type: "string" } } },
          required: ["theme", "tips"],
          additionalProperties: false,
        },
      },
      reason: { type: "string" },
    },
    required: ["categories", "reason"],
    additionalProperties: false,
  };
}

const SYSTEM = {
  en: "You are an expert in visual evaluation criteria for AI-generated and AI-edited images.",
  zh: "你是 AI 生成图像与 AI 编辑图像视觉评估标准方面的专家。",
} as const;

const SYSTEM_CATEGORIZE = {
  en: "You are an expert at aggregating evaluation criteria into a small hierarchy of themes with concrete tips.",
  zh: "你是把评估标准归纳为少量主题及具体要点的专家。",
} as const;

function criteriaJsonLine(count: number): string {
  const items = count === 1 ? '"<criterion 1>"' : `"<criterion 1>", ..., "<criterion ${count}>"`;
  return `{"criteria": [${items}], "reason": "<one sentence>"}`;
}

const CATEGORIES_JSON_LINE =
  '{"categories": [{"theme": "<theme>", "tips": ["<tip>", "..."]}], "reason": "<one sentence>"}';

/**
 * Image parts, each after its label: "Image 1:", …; edits "Image BASE:" (several sources: the
 * judge's "Image BASE 1:", ...) then "Edited Image k:".
 */
export function imageParts(task: Task, images: PairImages, language: Language): ContentPart[] {
  const parts: ContentPart[] = [];
  const edit = task === "edit";
  const sources = edit ? (images.sources ?? []) : [];
  sources.forEach((url, i) => {
    const label =
      sources.length > 1
        ? sourceLabel(i, sources.length, language)
        : language === "zh"
          ? "Image BASE（编辑前的原图）："
          : "Image BASE (the original, before editing):";
    parts.push({ type: "text", text: label }, imagePart(url));
  });
  images.candidates.forEach((url, i) => {
    const label = edit ? `Edited Image ${i + 1}:` : `Image ${i + 1}:`;
    parts.push({ type: "text", text: label }, imagePart(url));
  });
  return parts;
}

function candidateName(task: Task, index: number): string {
  return task === "edit" ? `Edited Image ${index + 1}` : `Image ${index + 1}`;
}

function rankingLine(rank: readonly number[]): string {
  return `[${rank.join(", ")}]`;
}

/** Sample content shared by generation and refinement. The label appears only in these templates. */
function sampleLines(input: GenerationInput): string[] {
  const zh = input.language === "zh";
  const n = input.images.candidates.length;
  const best = input.labelRank.indexOf(Math.min(...input.labelRank));
  const lines: string[] = [];
  if (input.task === "edit") {
    lines.push(zh ? `编辑指令：${input.prompt}` : `Edit instruction: ${input.prompt}`);
    const count = input.images.sources?.length ?? 0;
    const names = Array.from({ length: count }, (_, i) => sourceName(i, count)).join(", ");
    lines.push(
      zh
        ? `是否提供原图：${count > 0 ? `是（${names}）` : "否"}`
        : `Base image provided: ${count > 0 ? `yes (${names})` : "no"}`,
    );
    if (input.editTags) lines.push(zh ? `编辑类型：${input.editTags}` : `Edit operation: ${input.editTags}`);
  } else {
    lines.push(zh ? `提示词：${input.prompt}` : `Prompt: ${input.prompt}`);
  }
  lines.push(zh ? `候选图像数量：${n}` : `Number of candidates: ${n}`);
  lines.push(
    zh
      ? `Expected ranking (人类偏好，1 = 最好，与图像顺序对齐): ${rankingLine(input.labelRank)}；人类更偏好 ${candidateName(input.task, best)}。`
      : `Expected ranking (the human's preference, 1 = best, aligned with the image order): ${rankingLine(input.labelRank)}; the human preferred ${candidateName(input.task, best)}.`,
  );
  return lines;
}

function taskSection(description: string | null | undefined, language: Language): string[] {
  if (!description) return [];
  return [language === "zh" ? `任务说明：${description}` : `Task description: ${description}`, ""];
}

function focusLine(task: Task, language: Language): string {
  if (language === "zh") {
    return task === "edit"
      ? "关注：指令是否执行到位、与原图的一致性、未要求修改区域是否保持不变、融合自然度、光照与透视是否一致、伪影。"
      : "关注：对提示词的遵循、内容完整性、真实感、构图、伪影与瑕疵、美学质量。";
  }
  return task === "edit"
    ? "Focus on: how fully the instruction is executed, fidelity to the base image, whether regions the instruction does not touch stay unchanged, seamless blending, consistent lighting and perspective, artefacts."
    : "Focus on: adherence to the prompt, completeness, realism, composition, artefacts and defects, aesthetic quality.";
}

function requirements(count: number, task: Task, language: Language, refining: boolean): string[] {
  if (language === "zh") {
    const lines = [
      `要求：恰好写出 ${count} 条标准（exactly ${count} criteria）。`,
      "- 每条标准是一个独立、可核查的质量维度，能在强弱图像之间拉开清晰的质量梯度；不要写“整体更好”。",
      "- 只凭这些标准、不知道人类偏好的评审，应当能得出与人类相同的排序（1 = 最好）。",
      "- 标准必须可复用于该提示词下的任何图像：不要提到 Image 1、Image 2 或“第一张/第二张”，不要写排序本身。",
      "- 标准不得依赖图像的先后顺序。",
      focusLine(task, language),
    ];
    if (refining) lines.push("- 修订后的标准要更具体、更少歧义，直接针对评审判断错误的原因。");
    if (refining && task === "edit") lines.push("- 提供原图时，标准必须要求与 Image BASE 比较。");
    return lines;
  }
  const lines = [
    `Requirements: write exactly ${count} criteria.`,
    "- Each criterion is one independent, checkable quality axis that separates a strong image from a weak one with a clear quality gradient; never 'overall better'.",
    "- A judge who sees only these criteria, and not the human's preference, must be able to reproduce the human's ranking (1 = best).",
    "- Criteria must be reusable for any image made for this prompt: never mention Image 1, Image 2, 'the first' or 'the second' image, and never state a ranking.",
    "- Criteria must not depend on the order in which the images are shown.",
    focusLine(task, language),
  ];
  if (refining)
    lines.push("- Make the revised criteria sharper and less ambiguous, aimed at why the judge went wrong.");
  if (refining && task === "edit")
    lines.push("- When a base image is given, criteria must require comparison with Image BASE.");
  return lines;
}

function answerLines(count: number, language: Language): string[] {
  return [
    language === "zh" ? "只输出 JSON，格式如下：" : "Answer with JSON only, in exactly this shape:",
    criteriaJsonLine(count),
  ];
}

/** Generation and refinement: the pair's images, then `body`, the requirements and the answer shape. */
function pairCriteriaRequest(input: GenerationInput, refining: boolean, body: string[]): VlmRequest {
  const text = [
    ...body,
    "",
    ...requirements(input.count, input.task, input.language, refining),
    "",
    ...answerLines(input.count, input.language),
  ].join("\n");
  const user: ChatMessage = {
    role: "user",
    content: [...imageParts(input.task, input.images, input.language), { type: "text", text }],
  };
  return {
    messages: [{ role: "system", content: SYSTEM[input.language] }, user],
    schema: { name: "arr_criteria", json: criteriaSchema(input.count) },
  };
}

/** Generation: the model sees prompt, images and the human's choice, and writes exactly K criteria. */
export function generationRequest(input: GenerationInput): VlmRequest {
  const zh = input.language === "zh";
  return pairCriteriaRequest(input, false, [
    zh
      ? `请为下面这组${input.task === "edit" ? "图像编辑" : "文生图"}结果写出评估标准，用来解释人类的偏好。`
      : `Write evaluation criteria for this ${input.task === "edit" ? "image-editing" : "text-to-image"} comparison that explain the human's preference.`,
    "",
    ...taskSection(input.taskDescription, input.language),
    ...sampleLines(input),
  ]);
}

/** Refinement: the previous set failed blind verification; the feedback block says how. */
export function refinementRequest(input: RefinementInput): VlmRequest {
  const zh = input.language === "zh";
  const f = input.feedback;
  const judged =
    f.judgeRanking !== null
      ? rankingLine(f.judgeRanking)
      : f.outcome === "tie"
        ? zh
          ? "none（平局）"
          : "none (a tie)"
        : zh
          ? "none（没有有效答案）"
          : "none (no valid answer)";
  return pairCriteriaRequest(input, true, [
    zh
      ? "你之前写的标准没有通过验证：一位只看到这些标准、不知道人类偏好的评审，给出了与人类不同的排序。请修订这些标准。"
      : "Your previous criteria failed verification: a judge who saw only these criteria, not the human's preference, ranked the images differently from the human. Revise them.",
    "",
    ...taskSection(input.taskDescription, input.language),
    ...sampleLines(input),
    "",
    zh ? "之前的标准：" : "Previous criteria:",
    renderCriteriaList(input.previous),
    "",
    "=== FEEDBACK ===",
    `Expected ranking (human): ${rankingLine(input.labelRank)}`,
    `Judge ranking: ${judged}`,
    `Judge reason: ${f.judgeReason.replace(/\s+/g, " ").trim() || "(none)"}`,
    "=== END FEEDBACK ===",
  ]);
}

/** Categorization: one text-only call merging all verified criteria (listed one per line). */
export function categorizationRequest(input: CategorizationInput): VlmRequest {
  const zh = input.language === "zh";
  const text = zh
    ? [
        `把下面这些${input.task === "edit" ? "图像编辑" : "文生图"}评估标准归并为至多 ${input.maxThemes} 个主题（at most ${input.maxThemes} themes），每个主题一句简短陈述加若干条具体、可核查的要点。`,
        "",
        ...taskSection(input.taskDescription, input.language),
        "Criteria (one per line):",
        renderCriteriaList(input.criteria),
        "",
        "要求：",
        "- 主题之间相互独立、不矛盾，每个主题自成一体。",
        "- 合并重复或近义的标准；保留每一个不同的想法。",
        "- 要点不得提到 Image 1、Image 2 等具体图像。",
        "",
        "只输出 JSON，格式如下：",
        CATEGORIES_JSON_LINE,
      ]
    : [
        `Merge the following ${input.task === "edit" ? "image-editing" : "text-to-image"} evaluation criteria into at most ${input.maxThemes} themes, each a short statement with concrete, checkable tips.`,
        "",
        ...taskSection(input.taskDescription, input.language),
        "Criteria (one per line):",
        renderCriteriaList(input.criteria),
        "",
        "Requirements:",
        "- Themes are self-contained, independent of each other and never contradictory.",
        "- Merge duplicates and near-duplicates; keep every distinct idea.",
        "- Tips never mention specific images such as Image 1 or Image 2.",
        "",
        "Answer with JSON only, in exactly this shape:",
        CATEGORIES_JSON_LINE,
      ];
  return {
    messages: [
      { role: "system", content: SYSTEM_CATEGORIZE[input.language] },
      { role: "user", content: text.join("\n") },
    ],
    schema: { name: "arr_categories", json: categoriesSchema(input.maxThemes) },
  };
}

/** Zero-shot: criteria from the task description alone, no seed pairs, text only. */
export function zeroShotRequest(input: ZeroShotInput): VlmRequest {
  const zh = input.language === "zh";
  const text = [
    zh
      ? `不看任何样例，仅根据下面的任务说明，为${input.task === "edit" ? "图像编辑" : "文生图"}结果写出评估标准。`
      : `Without any examples, write evaluation criteria for ${input.task === "edit" ? "image-editing" : "text-to-image"} outputs from the task description alone.`,
    "",
    ...taskSection(input.taskDescription, input.language),
    ...requirements(input.count, input.task, input.language, false).filter(
      // The "reproduce the human's ranking" line has no human here.
      (_, i) => i !== 2,
    ),
    "",
    ...answerLines(input.count, input.language),
  ].join("\n");
  return {
    messages: [
      { role: "system", content: SYSTEM[input.language] },
      { role: "user", content: text },
    ],
    schema: { name: "arr_criteria", json: criteriaSchema(input.count) },
  };
}

// ---------------------------------------------------------------------------------------------
// Reply parsing (pure). Bad model output is a value, not an exception: the caller re-asks.

export type ParseFailure = { ok: false; reason: string; raw: string };
export type CriteriaParse = { ok: true; criteria: string[]; reason: string } | ParseFailure;
export type CategoriesParse =
  | { ok: true; themes: { theme: string; tips: string[] }[]; reason: string }
  | ParseFailure;

// A criterion naming a position would smuggle the label into blind verification.
const POSITIONAL =
  /\b(?:edited\s+)?(?:image|picture|candidate|photo)\s*#?\s*[1-9]\b|\b(?:first|second|left|right)\s+(?:image|picture|candidate|one)\b|图\s*[1-9一二]|第[一二12]张/i;

function noObject(anyJson: boolean, key: string): string {
  return anyJson ? `no "${key}" array` : "no JSON object in the reply";
}

function normalise(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

/** Validates an `arr_criteria` reply: exactly `count` distinct, non-empty, position-free strings. */
export function parseCriteriaReply(text: string, count: number): CriteriaParse {
  const found = findJsonObject(stripThinking(text), "criteria");
  if (!("obj" in found)) return { ok: false, reason: noObject(found.anyJson, "criteria"), raw: text };
  const obj = found.obj as { criteria?: unknown; reason?: unknown };
  if (!Array.isArray(obj.criteria)) return { ok: false, reason: 'no "criteria" array', raw: text };
  const criteria = obj.criteria.map((c) => (typeof c === "string" ? normalise(c) : ""));
  if (criteria.some((c) => c.length === 0)) {
    return { ok: false, reason: "a criterion is empty or not a string", raw: text };
  }
  if (criteria.length !== count) {
    return { ok: false, reason: `expected exactly ${count} criteria, got ${criteria.length}`, raw: text };
  }
  if (new Set(criteria.map((c) => c.toLowerCase())).size !== criteria.length) {
    return { ok: false, reason: "duplicate criteria", raw: text };
  }
  const positional = criteria.find((c) => POSITIONAL.test(c));
  if (positional) {
    return { ok: false, reason: `a criterion names a specific image: "${positional}"`, raw: text };
  }
  return { ok: true, criteria, reason: typeof obj.reason === "string" ? obj.reason : "" };
}

/** Validates an `arr_categories` reply: 1..maxThemes themes, each with tips; tips deduplicated. */
export function parseCategoriesReply(text: string, maxThemes: number): CategoriesParse {
  const found = findJsonObject(stripThinking(text), "categories");
  if (!("obj" in found)) return { ok: false, reason: noObject(found.anyJson, "categories"), raw: text };
  const obj = found.obj as { categories?: unknown; reason?: unknown };
  if (!Array.isArray(obj.categories) || obj.categories.length === 0) {
    return { ok: false, reason: 'no "categories" array', raw: text };
  }
  if (obj.categories.length > maxThemes) {
    return { ok: false, reason: `at most ${maxThemes} themes, got ${obj.categories.length}`, raw: text };
  }
  const seen = new Set<string>();
  const themes: { theme: string; tips: string[] }[] = [];
  for (const [i, c] of obj.categories.entries()) {
    const entry = c as { theme?: unknown; tips?: unknown };
    const theme = typeof entry?.theme === "string" ? normalise(entry.theme) : "";
    if (!theme) return { ok: false, reason: `category ${i + 1} has no theme`, raw: text };
    if (!Array.isArray(entry.tips)) return { ok: false, reason: `category ${i + 1} has no tips`, raw: text };
    const tips: string[] = [];
    for (const t of entry.tips) {
      const tip = typeof t === "string" ? normalise(t) : "";
      if (!tip || seen.has(tip.toLowerCase())) continue;
      seen.add(tip.toLowerCase());
      tips.push(tip);
    }
    if (tips.length > 0) themes.push({ theme, tips });
  }
  if (themes.length === 0) return { ok: false, reason: "every category is empty", raw: text };
  return { ok: true, themes, reason: typeof obj.reason === "string" ? obj.reason : "" };
}

/**
 * Judge templates (ours; structure after paper §3.4-3.5, wording not copied). Versioned: the
 * version goes into every verdict and cache key, so change TEMPLATE_VERSION with any wording change.
 *
 * Layout of the single user message: every image first, each preceded by a text label
 * (`Image 1:` ...; for edits `Image BASE:` (several sources: `Image BASE 1:`, `Image BASE 2:` ...)
 * then `Edited Image 1:` ...), then one text part with
 * sections headed `### ...`. The rubric text sits between the line `### Rubrics` and the next
 * `###` heading, so the offline referee can find it. The last line spells out the JSON shape with
 * the literal key "rank" (servers without json_schema still see what to return).
 */
import type { Task } from "../config/schema.js";
import { type ChatMessage, type ContentPart, type ImageRef, imagePart } from "../vlm/client.js";

export const TEMPLATE_VERSION = "judge-v1";

/** Strict-mode JSON schema for `arr_rank` (no optional fields: strict output rejects them). */
export const RANK_SCHEMA = {
  name: "arr_rank" as const,
  json: {
    type: "object",
    properties: {
      rank: { type: "array", items: { type: "integer" } },
      reason: { type: "string" },
    },
    required: ["rank", "reason"],
    additionalProperties: false,
  } as Record<string, unknown>,
};

export interface JudgePromptInput {
  task: Task;
  language: "en" | "zh";
  /** The T2I prompt or the edit instruction. */
  prompt: string;
  /** The candidates (URLs or inline bytes), in presentation order. */
  candidates: readonly ImageRef[];
  /** The edit's source images, in the order the instruction refers to them. */
  sources?: readonly ImageRef[];
  /** Rendered rubric text; null: judge without rubrics (the zero-shot baseline). */
  rubricText: string | null;
  taskDescription?: string | null;
}

/**
 * The name of source image `i` (0-based) of `count`: "Image BASE" when there is one (the label
 * every template has always used), "Image BASE 1", "Image BASE 2", ... when there are several.
 */
export function sourceName(i: number, count: number): string {
  return count === 1 ? "Image BASE" : `Image BASE ${i + 1}`;
}

/** The text part before source image `i` of `count`. */
export function sourceLabel(i: number, count: number, language: "en" | "zh"): string {
  const name = sourceName(i, count);
  if (language === "zh")
    return count === 1 ? `${name}（编辑前的原图）:` : `${name}（编辑前的第 ${i + 1} 张原图）:`;
  return count === 1
    ? `${name} (original, before editing):`
    : `${name} (original input ${i + 1} of ${count}):`;
}

/** The sentence saying what the source images are (edits only). */
function sourceSentence(count: number, language: "en" | "zh"): string {
  if (language === "zh") {
    if (count === 0) return "未提供原图；请仅根据编辑指令评判。";
    return count === 1
      ? "Image BASE 是编辑前的原图，仅作参考，不是候选图像。"
      : `Image BASE 1..${count} 是编辑前的 ${count} 张原图（按编辑指令提及的顺序：第一张图像、第二张图像……），仅作参考，不是候选图像。`;
  }
  if (count === 0) return "No base image is provided; judge the edits from the instruction alone.";
  return count === 1
    ? "Image BASE is the original image before editing. It is a reference, not a candidate."
    : `Images BASE 1..${count} are the ${count} original input images, in the order the instruction refers to them ("the first image", "the second image", ...). They are references, not candidates.`;
}

/** The label shown before candidate `i` (0-based) in presentation order. */
export function candidateLabel(task: Task, i: number, language: "en" | "zh" = "en"): string {
  if (language === "zh") return task === "edit" ? `编辑后图像 ${i + 1}` : `图像 ${i + 1}`;
  return task === "edit" ? `Edited Image ${i + 1}` : `Image ${i + 1}`;
}

function shape(n: number, language: "en" | "zh"): string {
  const slots = Array.from({ length: n }, (_, i) =>
    language === "zh" ? `<候选${i + 1}的名次>` : `<rank of candidate ${i + 1}>`,
  ).join(", ");
  const reason = language === "zh" ? "<简短理由>" : "<short reason>";
  return `{"rank": [${slots}], "reason": "${reason}"}`;
}

function textEn(input: JudgePromptInput, n: number): string {
  const edit = input.task === "edit";
  const mode = n === 2 ? "pairwise" : "listwise";
  const names = `${edit ? "Edited Image" : "Image"} 1..${n}`;
  const out: string[] = [
    edit
      ? `You are an expert judge of image edits. Rank the ${n} edited images (${mode}) by how well each carries out the edit instruction on Image BASE, using the rubrics below.`
      : `You are an expert judge of generated images. Rank the ${n} images (${mode}) by how well each matches the prompt, using the rubrics below.`,
  ];
  if (input.taskDescription) out.push("", "### Task", input.taskDescription.trim());
  if (input.rubricText != null) out.push("", "### Rubrics", input.rubricText.trim());
  out.push("", edit ? "### Edit instruction" : "### Prompt", input.prompt.trim());
  if (edit) {
    out.push("", sourceSentence(input.sources?.length ?? 0, "en"));
  }
  out.push(
    "",
    "### Requirements",
    `- Rank only the ${n} candidates (${names})${edit ? "; never rank Image BASE" : ""}.`,
    `- 1 is the best. Give exactly ${n} distinct integers from 1 to ${n}, one per candidate, in the order the candidates are shown.`,
    "- No ties: every candidate gets a different rank.",
    "- Apply the rubrics to each candidate. The order in which the images are shown must not affect your ranking.",
    edit
      ? "- Check that the instruction was carried out, that regions it did not mention are preserved, and look for artefacts, bad blending, wrong lighting or perspective."
      : "- Check prompt adherence (objects, counts, attributes, relations, text), realism, composition, artefacts and aesthetics.",
    "- Keep the reason to one or two sentences.",
    "",
    "### Answer",
    "Reply with JSON only, in exactly this shape:",
    shape(n, "en"),
  );
  return out.join("\n");
}

function textZh(input: JudgePromptInput, n: number): string {
  const edit = input.task === "edit";
  const mode = n === 2 ? "成对比较" : "列表排序";
  const out: string[] = [
    edit
      ? `你是图像编辑评审专家。请依据下面的评分细则，对 ${n} 张编辑后图像进行排序（${mode}），评价每张图像在 Image BASE 上执行编辑指令的效果。`
      : `你是生成图像评审专家。请依据下面的评分细则，对 ${n} 张图像进行排序（${mode}），评价每张图像与提示词的符合程度。`,
  ];
  if (input.taskDescription) out.push("", "### Task", input.taskDescription.trim());
  if (input.rubricText != null) out.push("", "### Rubrics", input.rubricText.trim());
  out.push("", edit ? "### 编辑指令" : "### 提示词", input.prompt.trim());
  if (edit) {
    out.push("", sourceSentence(input.sources?.length ?? 0, "zh"));
  }
  out.push(
    "",
    "### Requirements",
    `- 只对 ${n} 张候选图像排序${edit ? "，不要对 Image BASE 排序" : ""}。`,
    `- 1 表示最好。给出恰好 ${n} 个互不相同的整数（1 到 ${n}），按候选图像出现的顺序，每张一个。`,
    "- 不允许并列：每张候选图像的名次都不同。",
    "- 按评分细则逐一评价每张候选图像；图像出现的先后顺序不得影响排序。",
    edit
      ? "- 检查指令是否被执行、指令未提及的区域是否保持不变，以及是否有伪影、融合不自然、光照或透视错误。"
      : "- 检查与提示词的符合程度（物体、数量、属性、关系、文字）、真实感、构图、伪影和美感。",
    "- 理由控制在一两句话。",
    "",
    "### Answer",
    "只回复 JSON，格式必须如下：",
    shape(n, "zh"),
  );
  return out.join("\n");
}

/** The judge request: one user message, images first (labelled), then the instructions. */
export function buildJudgeMessages(input: JudgePromptInput): ChatMessage[] {
  const n = input.candidates.length;
  const parts: ContentPart[] = [];
  const sources = input.task === "edit" ? (input.sources ?? []) : [];
  sources.forEach((source, i) => {
    parts.push({ type: "text", text: sourceLabel(i, sources.length, input.language) });
    parts.push(imagePart(source));
  });
  input.candidates.forEach((image, i) => {
    parts.push({ type: "text", text: `${candidateLabel(input.task, i, input.language)}:` });
    parts.push(imagePart(image));
  });
  parts.push({ type: "text", text: input.language === "zh" ? textZh(input, n) : textEn(input, n) });
  return [{ role: "user", content: parts }];
}

/**
 * Follow-up after an unusable answer: the conversation so far plus this message. It restates the
 * constraint that was broken and ends with the same JSON shape line.
 */
export function buildReaskMessage(n: number, language: "en" | "zh", problem: string): ChatMessage {
  const text =
    language === "zh"
      ? [
          `你上一个回答无法使用：${problem}。`,
          `请重新回答：恰好 ${n} 个互不相同的整数（1 到 ${n}，1 表示最好），按候选图像出现的顺序，不允许并列。`,
          "只回复 JSON，格式必须如下：",
          shape(n, "zh"),
        ]
      : [
          `Your previous answer could not be used: ${problem}.`,
          `Answer again with exactly ${n} distinct integers from 1 to ${n} (1 = best), one per candidate in the order shown, no ties.`,
          "Reply with JSON only, in exactly this shape:",
          shape(n, "en"),
        ];
  return { role: "user", content: text.join("\n") };
}

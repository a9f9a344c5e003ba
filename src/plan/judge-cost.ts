/**
 * What judging costs per update and per run, and how fast the judge must be.
 *
 *   calls per update   = prompts per update (all GPUs) x orders (swap: 2, single/random: 1); each call
 *                        ranks all C candidates of one prompt (re-asks after malformed replies not counted)
 *   prompt tokens/call = images x (vision tokens + 2 delimiters) + text tokens + chat template
 *   text tokens        = characters of the rendered judge prompt (src/judge/prompt.ts, with the rubric)
 *                        / characters per token (a stated heuristic: 4 for English, 1.5 for Chinese)
 *   cost               = tokens x price per million tokens (vlm.price)
 *   needed throughput  = work per update / (10% of the update's compute time): the judge then
 *                        finishes within a tenth of a step even if none of it overlaps sampling
 */
import type { Task } from "../config/schema.js";
import { buildJudgeMessages } from "../judge/prompt.js";
import { IMAGE_DELIMITER_TOKENS, imageTokens, type VisionProcessor } from "./vision-tokens.js";

/** The judge's wait may take this share of an update. */
export const JUDGE_WAIT_SHARE = 0.1;
/** Characters per token of the judge's text (a heuristic for Qwen-family BPE tokenizers). */
export const CHARS_PER_TOKEN = { en: 4, zh: 1.5 } as const;
/** Role markers and turn delimiters of the chat template around the one user message. */
export const CHAT_TEMPLATE_TOKENS = 16;
/** A training prompt's length in characters (assumed: ShareGPT-4o-Image prompts run 200-400). */
export const ASSUMED_PROMPT_CHARS = 300;
/** A reply `{"rank": [...], "reason": "<one or two sentences>"}` (assumed; vlm.max_tokens caps it). */
export const ASSUMED_COMPLETION_TOKENS = 80;

export interface JudgeInput {
  /** null: no VLM configured; "referee": the rule-based offline judge (no tokens, no cost). */
  provider: "openai-compatible" | "referee" | null;
  model: string | null;
  order: "single" | "swap" | "random";
  task: Task;
  language: "en" | "zh";
  candidates: number;
  /** [height, width] of a candidate as sent (after vlm.image.max_side). */
  imageSize: [number, number];
  /** [height, width] of the edit's source as sent; null for text-to-image. */
  sourceSize: [number, number] | null;
  /** The judge model's image processor; null when its family is unknown. */
  processor: VisionProcessor | null;
  rubricText: string | null;
  taskDescription: string | null;
  completionCap: number | null;
  price: { input_per_mtok: number; output_per_mtok: number };
  promptsPerUpdate: number;
  updates: number;
  updateSeconds: number;
}

export interface TokenCounts {
  prompt: number;
  completion: number;
}

export interface JudgeCost {
  callsPerUpdate: number;
  orders: number;
  imagesPerCall: number;
  /** Vision tokens per candidate image (delimiters excluded); null when the family is unknown. */
  imageTokensPerImage: number | null;
  sourceImageTokens: number | null;
  textTokensPerCall: number;
  perCall: TokenCounts | null;
  perUpdate: TokenCounts | null;
  perRun: TokenCounts | null;
  costPerUpdate: number | null;
  costPerRun: number | null;
  needed: {
    budgetSeconds: number;
    callsPerSecond: number;
    promptTokensPerSecond: number | null;
    completionTokensPerSecond: number | null;
  };
  notes: string[];
}

/** The size an image is sent at: the longer side capped at `maxSide`, aspect kept (sharp `fit: inside`). */
export function sentSize(height: number, width: number, maxSide: number | null): [number, number] {
  const longer = Math.max(height, width);
  if (maxSide == null || longer <= maxSide) return [height, width];
  return [Math.round((height * maxSide) / longer), Math.round((width * maxSide) / longer)];
}

/** Text tokens of one judge call: the rendered prompt's text parts / characters per token. */
export function judgeTextTokens(
  input: Pick<
    JudgeInput,
    "task" | "language" | "candidates" | "rubricText" | "taskDescription" | "sourceSize"
  >,
): number {
  const [message] = buildJudgeMessages({
    task: input.task,
    language: input.language,
    prompt: "x".repeat(ASSUMED_PROMPT_CHARS),
    candidates: Array.from({ length: input.candidates }, () => "image"),
    sources: input.sourceSize ? ["image"] : [],
    rubricText: input.rubricText,
    taskDescription: input.taskDescription,
  });
  const parts =
    typeof message?.content === "string"
      ? [{ type: "text", text: message.content }]
      : (message?.content ?? []);
  const chars = parts.reduce(
    (n, p) => n + ("text" in p && typeof p.text === "string" ? p.text.length : 0),
    0,
  );
  return Math.ceil(chars / CHARS_PER_TOKEN[input.language]) + CHAT_TEMPLATE_TOKENS;
}

export function judgeCost(j: JudgeInput): JudgeCost {
  const orders = j.order === "swap" ? 2 : 1;
  const callsPerUpdate = j.promptsPerUpdate * orders;
  const imagesPerCall = j.candidates + (j.sourceSize ? 1 : 0);
  const budgetSeconds = JUDGE_WAIT_SHARE * j.updateSeconds;
  const notes: string[] = [];
  const textTokens = judgeTextTokens(j);
  if (j.rubricText == null) notes.push("no rubric file: the rubric's text is not counted");
  if (j.provider !== "openai-compatible") {
    notes.push(
      j.provider === "referee"
        ? "the referee is rule-based: no tokens, no cost"
        : "no vlm section: no judge configured",
    );
    return {
      callsPerUpdate,
      orders,
      imagesPerCall,
      imageTokensPerImage: null,
      sourceImageTokens: null,
      textTokensPerCall: textTokens,
      perCall: null,
      perUpdate: null,
      perRun: null,
      costPerUpdate: j.provider === "referee" ? 0 : null,
      costPerRun: j.provider === "referee" ? 0 : null,
      needed: {
        budgetSeconds,
        callsPerSecond: callsPerUpdate / budgetSeconds,
        promptTokensPerSecond: null,
        completionTokensPerSecond: null,
      },
      notes,
    };
  }
  const perImage = j.processor ? imageTokens(j.imageSize[0], j.imageSize[1], j.processor) : null;
  const perSource =
    j.processor && j.sourceSize ? imageTokens(j.sourceSize[0], j.sourceSize[1], j.processor) : null;
  if (!j.processor)
    notes.push(
      `image tokens unknown for ${j.model}: pass --judge-processor with its preprocessor_config.json`,
    );
  const completion = Math.min(ASSUMED_COMPLETION_TOKENS, j.completionCap ?? Number.POSITIVE_INFINITY);
  const perCall =
    perImage === null
      ? null
      : {
          prompt:
            j.candidates * (perImage + IMAGE_DELIMITER_TOKENS) +
            (j.sourceSize ? (perSource ?? 0) + IMAGE_DELIMITER_TOKENS : 0) +
            textTokens,
          completion,
        };
  const scale = (t: TokenCounts | null, k: number) =>
    t ? { prompt: t.prompt * k, completion: t.completion * k } : null;
  const perUpdate = scale(perCall, callsPerUpdate);
  const perRun = scale(perUpdate, j.updates);
  const cost = (t: TokenCounts | null) =>
    t ? (t.prompt * j.price.input_per_mtok + t.completion * j.price.output_per_mtok) / 1e6 : null;
  if (j.price.input_per_mtok === 0 && j.price.output_per_mtok === 0)
    notes.push("vlm.price is 0 (a self-hosted judge): cost 0");
  return {
    callsPerUpdate,
    orders,
    imagesPerCall,
    imageTokensPerImage: perImage,
    sourceImageTokens: perSource,
    textTokensPerCall: textTokens,
    perCall,
    perUpdate,
    perRun,
    costPerUpdate: cost(perUpdate),
    costPerRun: cost(perRun),
    needed: {
      budgetSeconds,
      callsPerSecond: callsPerUpdate / budgetSeconds,
      promptTokensPerSecond: perUpdate ? perUpdate.prompt / budgetSeconds : null,
      completionTokensPerSecond: perUpdate ? perUpdate.completion / budgetSeconds : null,
    },
    notes,
  };
}

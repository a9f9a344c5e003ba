/**
 * Reading an OpenAI chat-completions request the way the referee needs it: what is asked (the
 * schema name, else the JSON keys of the prompt's last line), the images with their labels, the
 * rubric block, K, the expected ranking and the criteria to categorize. Pure and tolerant: the
 * templates live in src/judge/prompt.ts and src/rubrics/prompts.ts, and anything the referee cannot
 * find falls back to a documented default rather than an error.
 */

export type RequestKind = "arr_rank" | "arr_criteria" | "arr_categories";

/** One image of the request with the text label that preceded it. */
export interface LabelledImage {
  url: string;
  label: string;
  /** True for an edit's source image ("Image BASE"): a reference, not a candidate. */
  base: boolean;
}

export interface ParsedRequest {
  kind: RequestKind;
  language: "en" | "zh";
  task: "t2i" | "edit";
  /** Every text part of every message, joined by newlines. */
  text: string;
  images: LabelledImage[];
  /** The JSON schema sent with the request, if any. */
  schema: Record<string, unknown> | null;
}

interface RawPart {
  type?: unknown;
  text?: unknown;
  image_url?: unknown;
}
interface RawMessage {
  role?: unknown;
  content?: unknown;
}

/** Thrown for requests the referee cannot answer at all; the server turns it into a 400. */
export class RefereeRequestError extends Error {
  override name = "RefereeRequestError";
}

const KINDS: readonly RequestKind[] = ["arr_rank", "arr_criteria", "arr_categories"];

const BASE_LABEL = /\bbase\b|original|source|原图/i;

export function parseChatRequest(body: unknown): ParsedRequest {
  if (!body || typeof body !== "object")
    throw new RefereeRequestError("the request body is not a JSON object");
  const b = body as { messages?: unknown; response_format?: unknown; stream?: unknown };
  if (b.stream === true) throw new RefereeRequestError("streaming is not supported by the referee");
  if (!Array.isArray(b.messages) || b.messages.length === 0) {
    throw new RefereeRequestError("messages must be a non-empty array");
  }
  const texts: string[] = [];
  const images: LabelledImage[] = [];
  let lastText = "";
  for (const raw of b.messages as RawMessage[]) {
    const messageTexts: string[] = [];
    let label = "";
    if (typeof raw?.content === "string") {
      messageTexts.push(raw.content);
    } else if (Array.isArray(raw?.content)) {
      for (const part of raw.content as RawPart[]) {
        if (part?.type === "text" && typeof part.text === "string") {
          messageTexts.push(part.text);
          label = part.text;
        } else if (part?.type === "image_url") {
          const iu = part.image_url as { url?: unknown } | string | undefined;
          const url = typeof iu === "string" ? iu : typeof iu?.url === "string" ? iu.url : null;
          if (url === null) throw new RefereeRequestError("an image_url part has no url");
          images.push({ url, label, base: BASE_LABEL.test(label) });
          label = "";
        }
      }
    }
    texts.push(...messageTexts);
    if (raw?.role !== "assistant" && messageTexts.length > 0) lastText = messageTexts.join("\n");
  }
  const text = texts.join("\n");
  const schemaInfo = schemaOf(b.response_format);
  const kind = schemaInfo.name ?? kindFromKeys(lastText);
  if (!kind) {
    throw new RefereeRequestError(
      'cannot tell what is asked: no arr_* schema name and no "rank", "criteria" or "categories" key in the last message',
    );
  }
  const cjk = (lastText.match(/[\u3400-\u9fff]/g) ?? []).length;
  const language = cjk >= 10 ? "zh" : "en";
  const edit =
    images.some((i) => i.base) ||
    /Edited Image|image-editing|Edit instruction|编辑后图像|图像编辑|编辑指令/.test(text);
  return { kind, language, task: edit ? "edit" : "t2i", text, images, schema: schemaInfo.schema };
}

function schemaOf(responseFormat: unknown): {
  name: RequestKind | null;
  schema: Record<string, unknown> | null;
} {
  const rf = responseFormat as { json_schema?: { name?: unknown; schema?: unknown } } | undefined;
  const name = rf?.json_schema?.name;
  const schema = rf?.json_schema?.schema;
  return {
    name:
      typeof name === "string" && (KINDS as readonly string[]).includes(name) ? (name as RequestKind) : null,
    schema: schema && typeof schema === "object" ? (schema as Record<string, unknown>) : null,
  };
}

/** Templates end with a line spelling the JSON shape; its literal keys say what is asked. */
export function kindFromKeys(text: string): RequestKind | null {
  const lines = text.trim().split("\n").reverse();
  for (const line of lines) {
    if (/"categories"\s*:/.test(line)) return "arr_categories";
    if (/"criteria"\s*:/.test(line)) return "arr_criteria";
    if (/"rank"\s*:/.test(line)) return "arr_rank";
  }
  return null;
}

/**
 * The rubric block of a judge prompt: the lines between `### Rubrics` (or `### Rubric`,
 * `### 评分细则`) and the next `###` heading. Without that heading, a fenced `=== RUBRIC ===` block,
 * else the numbered and "Theme" lines of the whole text; null when there is none.
 */
export function rubricBlock(text: string): string | null {
  const lines = text.split("\n");
  const start = lines.findIndex((l) =>
    /^\s*#{2,4}\s*(rubrics?|evaluation rubrics?|criteria|评分细则|评估标准)\b/i.test(l),
  );
  if (start >= 0) {
    const rest = lines.slice(start + 1);
    const end = rest.findIndex((l) => /^\s*#{2,4}\s/.test(l));
    const block = (end >= 0 ? rest.slice(0, end) : rest).join("\n").trim();
    return block || null;
  }
  const fence = /===\s*RUBRICS?\s*===([\s\S]*?)===\s*END\s*RUBRICS?\s*===/i.exec(text);
  if (fence?.[1]?.trim()) return fence[1].trim();
  const listed = lines.filter((l) => /^\s*(\d+[.)]\s+|Theme\s+\d+\s*:)/i.test(l));
  return listed.length ? listed.join("\n") : null;
}

function schemaItems(schema: Record<string, unknown> | null, key: string, bound: "minItems" | "maxItems") {
  const props = schema?.properties as Record<string, Record<string, unknown>> | undefined;
  const v = props?.[key]?.[bound];
  return typeof v === "number" && Number.isInteger(v) && v > 0 ? v : null;
}

/** K for a criteria request: the schema's item count, else "exactly K criteria" in the text, else 5. */
export function requestedCount(req: ParsedRequest): number {
  const fromSchema = schemaItems(req.schema, "criteria", "minItems");
  if (fromSchema) return fromSchema;
  const m =
    /exactly\s+(\d+)\s+(?:distinct\s+)?criteri/i.exec(req.text) ?? /(\d+)\s*条(?:评估)?标准/.exec(req.text);
  const k = m ? Number(m[1]) : 5;
  return k > 0 && k <= 50 ? k : 5;
}

/** The most themes a categorization may use: schema maxItems, else "at most N themes", else 5. */
export function requestedThemes(req: ParsedRequest): number {
  const fromSchema = schemaItems(req.schema, "categories", "maxItems");
  if (fromSchema) return fromSchema;
  const m =
    /at most\s+(\d+)\s+(?:themes|categories)/i.exec(req.text) ?? /至多\s*(\d+)\s*个主题/.exec(req.text);
  const n = m ? Number(m[1]) : 5;
  return n > 0 ? n : 5;
}

/** The human's ranking shown in generation and refinement prompts ("Expected ranking ...: [1, 2]"). */
export function expectedRanking(text: string): number[] | null {
  const m = /expected\s+ranking[^[\n]*\[([\d\s,]+)\]/i.exec(text);
  if (!m?.[1]) return null;
  const rank = m[1]
    .split(",")
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
  return rank.length >= 2 ? rank : null;
}

/** Whether a criteria request is a refinement (it carries the blind judge's feedback). */
export function isRefinement(text: string): boolean {
  return /===\s*FEEDBACK\s*===|Judge ranking\s*:|Previous criteria\s*:|之前的标准/i.test(text);
}

/** The criteria listed for categorization: numbered lines after "Criteria ...:", else all numbered lines. */
export function listedCriteria(text: string): string[] {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => /^\s*criteria\b[^:]*:\s*$/i.test(l));
  const numbered = (ls: string[]) =>
    ls.map((l) => /^\s*\d+[.)]\s+(.+)$/.exec(l)?.[1]?.trim()).filter((s): s is string => !!s);
  if (start >= 0) {
    const rest = lines.slice(start + 1);
    const end = rest.findIndex((l) => l.trim() === "");
    const items = numbered(end >= 0 ? rest.slice(0, end) : rest);
    if (items.length) return items;
  }
  return numbered(lines);
}

/**
 * Test support for induction: a recording, scriptable fake VlmClient that answers all three
 * schema kinds, and a tiny HTTP front for it (so the real openai-backed client and the CLI can be
 * exercised over loopback).
 *
 * The fake "judge" decides from pixels, like the referee: it reads the rubric block of an
 * `arr_rank` request and scores each candidate by the criteria it recognises (warm/cool colour,
 * contrast). With no recognised criterion it answers by position ([1, 2, ...]), which a swap
 * judge turns into a disagreement, i.e. a failed verification.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import sharp from "sharp";
import { AbortError, VlmError } from "../../src/errors.js";
import {
  type ChatMessage,
  type ContentPart,
  imageUrl,
  type VlmClient,
  type VlmRequest,
  type VlmResponse,
} from "../../src/vlm/client.js";
import type { UsageMeter } from "../../src/vlm/usage.js";

export const GOOD = [
  "Warmer colour temperature: reds and oranges dominate over blues",
  "Higher contrast: a wide spread between the darkest and the brightest regions",
];
export const BAD = ["Cooler colour temperature: blues dominate over reds and oranges"];

/** Criteria the fake judge ignores (no warm/cool/contrast keyword), enough for K = 20. */
export const FILLER = Array.from(
  { length: 40 },
  (_, i) => `Detail check ${i + 1}: textures and edges in part ${i + 1} of the scene are rendered cleanly`,
);

export interface RecordedCall {
  kind: "arr_rank" | "arr_criteria" | "arr_categories" | "none";
  /** All text of the request, joined. */
  text: string;
  images: number;
  /** The prompt of the pair this call belongs to (null for categorization and zero-shot). */
  prompt: string | null;
  request: VlmRequest;
  /** Whether a reply came back (false: aborted or failed before answering). */
  completed: boolean;
}

export interface CriteriaContext {
  /** "generate" | "refine" | "zero-shot" */
  mode: "generate" | "refine" | "zero-shot";
  k: number;
  prompt: string | null;
  text: string;
  /** How many criteria requests of this mode this prompt has seen before (0-based). */
  nth: number;
}

export interface FakeScript {
  /** Reply text for generation/refinement/zero-shot; default: GOOD + FILLER, K items. */
  criteria?: (c: CriteriaContext) => string;
  /** Reply text for categorization; default: one theme per 3 criteria. Throw to simulate failure. */
  categories?: (criteria: string[], maxThemes: number) => string;
  /** Abort this controller right after the n-th completed call (1-based). */
  abortAfter?: { n: number; controller: AbortController };
  /** Per-call token usage reported. */
  usage?: { promptTokens: number; completionTokens: number };
}

export function criteriaReply(criteria: string[], reason = "scripted"): string {
  return JSON.stringify({ criteria, reason });
}

/** K criteria led by `lead`, padded with filler. */
export function withFiller(lead: string[], k: number): string[] {
  return [...lead, ...FILLER].slice(0, k);
}

function textOf(messages: ChatMessage[]): string {
  return messages
    .flatMap((m) =>
      typeof m.content === "string"
        ? [m.content]
        : m.content
            .filter((p): p is Extract<ContentPart, { type: "text" }> => p.type === "text")
            .map((p) => p.text),
    )
    .join("\n");
}

function imagesOf(messages: ChatMessage[]): { label: string; url: string }[] {
  const out: { label: string; url: string }[] = [];
  for (const m of messages) {
    if (typeof m.content === "string") continue;
    let label = "";
    for (const p of m.content) {
      if (p.type === "text") label = p.text;
      else out.push({ label, url: imageUrl(p.type === "image" ? p : p.image_url.url) });
    }
  }
  return out;
}

function kindOf(req: VlmRequest, text: string): RecordedCall["kind"] {
  if (req.schema) return req.schema.name;
  const last = text.trim().split("\n").at(-1) ?? "";
  if (last.includes('"rank"')) return "arr_rank";
  if (last.includes('"categories"')) return "arr_categories";
  if (last.includes('"criteria"')) return "arr_criteria";
  return "none";
}

/** The pair prompt a request is about: the generation "Prompt:" line or the judge's "### Prompt" block. */
export function promptOf(text: string): string | null {
  const judge = /### (?:Prompt|Edit instruction)\n(.+)/.exec(text);
  if (judge?.[1]) return judge[1].trim();
  const gen = /^(?:Prompt|Edit instruction): (.+)$/m.exec(text);
  return gen?.[1]?.trim() ?? null;
}

async function pixelFeatures(url: string): Promise<{ warmth: number; contrast: number }> {
  const b64 = url.slice(url.indexOf(",") + 1);
  const stats = await sharp(Buffer.from(b64, "base64")).stats();
  const [r, g, b] = stats.channels;
  const sd = ((r?.stdev ?? 0) + (g?.stdev ?? 0) + (b?.stdev ?? 0)) / 3;
  return { warmth: ((r?.mean ?? 0) - (b?.mean ?? 0)) / 255, contrast: sd / 128 };
}

async function rankReply(text: string, messages: ChatMessage[]): Promise<string> {
  const rubric = /### Rubrics\n([\s\S]*?)(?:\n###|$)/.exec(text)?.[1] ?? "";
  const candidates = imagesOf(messages).filter((i) => !/BASE/.test(i.label));
  const useWarm = /\bwarm/i.test(rubric);
  const useCool = /\bcool/i.test(rubric);
  const useContrast = /contrast/i.test(rubric);
  if (!useWarm && !useCool && !useContrast) {
    const rank = candidates.map((_, i) => i + 1);
    return JSON.stringify({ rank, reason: "no recognised criterion; kept the shown order" });
  }
  const scores = await Promise.all(
    candidates.map(async (c) => {
      const f = await pixelFeatures(c.url);
      return (useWarm ? f.warmth : 0) - (useCool ? f.warmth : 0) + (useContrast ? f.contrast : 0);
    }),
  );
  const order = scores.map((s, i) => [s, i] as const).sort((a, b) => b[0] - a[0]);
  const rank = new Array<number>(scores.length);
  order.forEach(([, i], pos) => {
    rank[i] = pos + 1;
  });
  return JSON.stringify({
    rank,
    reason: `scored by ${[useWarm && "warmth", useCool && "coolness", useContrast && "contrast"].filter(Boolean).join(", ")}`,
  });
}

function listedCriteria(text: string): string[] {
  const block = text.split("Criteria (one per line):\n")[1] ?? "";
  const out: string[] = [];
  for (const line of block.split("\n")) {
    const m = /^\d+\. (.+)$/.exec(line);
    if (m?.[1]) out.push(m[1]);
    else if (out.length > 0) break;
  }
  return out;
}

function defaultCategories(criteria: string[], maxThemes: number): string {
  const themes: { theme: string; tips: string[] }[] = [];
  criteria.forEach((c, i) => {
    const t = Math.min(Math.floor(i / 3), maxThemes - 1);
    themes[t] ??= { theme: `Theme ${t + 1}`, tips: [] };
    themes[t].tips.push(c);
  });
  return JSON.stringify({ categories: themes, reason: "grouped in threes" });
}

/** A recording fake VLM. `calls` holds every request in arrival order. */
export class FakeVlm implements VlmClient {
  readonly model = "fake-vlm";
  readonly params = { temperature: 0 };
  readonly calls: RecordedCall[] = [];
  meter?: UsageMeter;
  private completedCount = 0;
  private readonly seen = new Map<string, number>();

  constructor(private readonly script: FakeScript = {}) {}

  /** Completed (paid) calls. */
  get completed(): number {
    return this.completedCount;
  }

  callsFor(prompt: string): RecordedCall[] {
    return this.calls.filter((c) => c.prompt === prompt && c.completed);
  }

  async complete(req: VlmRequest): Promise<VlmResponse> {
    const text = textOf(req.messages);
    const call: RecordedCall = {
      kind: kindOf(req, text),
      text,
      images: imagesOf(req.messages).length,
      prompt: promptOf(text),
      request: req,
      completed: false,
    };
    this.calls.push(call);
    if (req.signal?.aborted) throw new AbortError("VLM request cancelled");
    const settle = this.meter?.reserve();
    let reply: string;
    try {
      reply = await this.answer(call);
    } catch (error) {
      settle?.();
      throw error;
    }
    if (req.signal?.aborted) {
      settle?.();
      throw new AbortError("VLM request cancelled");
    }
    const usage = this.script.usage ?? { promptTokens: 100, completionTokens: 20 };
    settle?.(usage);
    call.completed = true;
    this.completedCount++;
    const abort = this.script.abortAfter;
    if (abort && this.completedCount === abort.n) abort.controller.abort();
    return { text: reply, usage, latencyMs: 1, model: this.model, endpoint: "fake" };
  }

  private async answer(call: RecordedCall): Promise<string> {
    if (call.kind === "arr_rank") return rankReply(call.text, call.request.messages);
    if (call.kind === "arr_categories") {
      const m = /at most (\d+) themes/.exec(call.text);
      const max = Number(m?.[1] ?? 5);
      return (this.script.categories ?? defaultCategories)(listedCriteria(call.text), max);
    }
    if (call.kind === "arr_criteria") {
      const k = Number(/exactly (\d+) criteria/.exec(call.text)?.[1] ?? 5);
      const mode = call.text.includes("=== FEEDBACK ===")
        ? "refine"
        : call.images === 0
          ? "zero-shot"
          : "generate";
      const key = `${mode}:${call.prompt}`;
      const nth = this.seen.get(key) ?? 0;
      this.seen.set(key, nth + 1);
      const ctx: CriteriaContext = { mode, k, prompt: call.prompt, text: call.text, nth };
      return this.script.criteria ? this.script.criteria(ctx) : criteriaReply(withFiller(GOOD, k));
    }
    throw new VlmError("fake VLM: request of unknown kind", { retriable: false });
  }
}

/**
 * Serves a FakeVlm over OpenAI-compatible HTTP on 127.0.0.1 (port 0), so `createVlmClient` and
 * the CLI can talk to it.
 */
export async function serveFake(fake: FakeVlm): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        const rf = body.response_format;
        const schema =
          rf?.type === "json_schema" ? { name: rf.json_schema.name, json: rf.json_schema.schema } : undefined;
        const r = await fake.complete({ messages: body.messages, ...(schema ? { schema } : {}) });
        res.writeHead(200, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            id: "x",
            object: "chat.completion",
            created: 0,
            model: fake.model,
            choices: [{ index: 0, finish_reason: "stop", message: { role: "assistant", content: r.text } }],
            usage: {
              prompt_tokens: r.usage.promptTokens,
              completion_tokens: r.usage.completionTokens,
              total_tokens: r.usage.promptTokens + r.usage.completionTokens,
            },
          }),
        );
      } catch (error) {
        res.writeHead(400, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: String(error) } }));
      }
    });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

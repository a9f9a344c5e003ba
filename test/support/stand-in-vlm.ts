/**
 * A local OpenAI-compatible stand-in for a VLM (node:http on 127.0.0.1, port 0). It decodes the
 * images it receives and ranks the candidates by a rule on their pixels (default: brighter is
 * better), then answers in the styles real models use, or fails the way real servers do. A script
 * chooses the behaviour per request; every request body is recorded.
 *
 * Labels follow the judge template: a text part `Image BASE...` before the source image, any other
 * label before a candidate. Requests asking for `arr_criteria` / `arr_categories` (schema name or
 * the literal key in the text) get a small fixed answer, so induction suites can use it too.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import sharp from "sharp";
import { ImageEncodingSchema, JudgeSchema, VlmSchema } from "../../src/config/schema.js";
import { createJudge } from "../../src/judge/judge.js";
import type { Judge } from "../../src/judge/types.js";
import { createVlmClient } from "../../src/vlm/client.js";

export type StandInBehaviour =
  | "json" // clean JSON
  | "fenced" // JSON inside ```json fences
  | "think" // <think> preamble (with a decoy object inside) then JSON
  | "prose" // prose before and after the JSON
  | "text" // a plain-words verdict ("Image 2 is better."), N = 2
  | "wrong-length" // rank with one value too many
  | "tie" // every candidate ranked 1
  | "garbage" // no JSON, no verdict
  | "no-rank" // JSON without a rank key
  | "empty" // empty content
  | "http-500"
  | "http-429"
  | "http-400"
  | "timeout" // never answers (until close)
  | "drop"; // destroys the connection

/** What the stand-in saw in one request. */
export interface StandInRequestInfo {
  /** 0-based arrival index. */
  index: number;
  /** The text parts of the conversation, joined. */
  text: string;
  /** sha256 of each candidate image's bytes, in presentation order. */
  candidateHashes: string[];
  baseHash: string | null;
  /** sha256 of every source image ("Image BASE", "Image BASE 1", ...), in the order sent. */
  baseHashes: string[];
  /** Mean brightness of each candidate, in presentation order. */
  brightness: number[];
  /** Messages in the conversation (> 1 means a re-ask). */
  messages: number;
  schema: string | null;
  authorization: string | null;
}

export interface RecordedRequest {
  body: Record<string, unknown>;
  info: StandInRequestInfo;
  behaviour: StandInBehaviour;
  /** The rank the stand-in answered with (presentation order), when it answered one. */
  rank: number[] | null;
  biased: boolean;
}

/** Scores candidates (higher is better) from their brightness values. */
export type StandInRule = "brighter" | "darker" | ((info: StandInRequestInfo) => number[]);

export interface StandInOptions {
  rule?: StandInRule;
  /** Behaviour once the script is used up (default "json"). */
  style?: StandInBehaviour;
  /** Behaviours for requests 0, 1, 2, ... in arrival order. */
  script?: StandInBehaviour[];
  /** Fixed latency per request (ms). */
  latencyMs?: number;
  /**
   * Planted position bias: for matching items the stand-in answers "the first image shown is best"
   * whatever the images show. Items are chosen by `match`, or by `fraction` of items (by a hash of
   * the candidate set, so both presentation orders of one item agree on being biased).
   */
  bias?: { fraction?: number; match?: (info: StandInRequestInfo) => boolean };
  /** Require `Authorization: Bearer <apiKey>` (401 otherwise). */
  apiKey?: string;
  model?: string;
}

export interface StandInVlm {
  /** Base URL ending in /v1. */
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Replaces the remaining script (applies to the next requests). */
  setScript(script: StandInBehaviour[]): void;
  setStyle(style: StandInBehaviour): void;
  close(): Promise<void>;
}

const brightnessCache = new Map<string, number>();

async function decode(url: string): Promise<{ hash: string; brightness: number }> {
  const comma = url.indexOf(",");
  const bytes = Buffer.from(url.slice(comma + 1), "base64");
  const hash = createHash("sha256").update(bytes).digest("hex");
  let b = brightnessCache.get(hash);
  if (b === undefined) {
    const { channels } = await sharp(bytes).stats();
    const rgb = channels.slice(0, 3);
    b = rgb.reduce((s, c) => s + c.mean, 0) / rgb.length;
    brightnessCache.set(hash, b);
  }
  return { hash, brightness: b };
}

type Part = { type: string; text?: string; image_url?: { url: string } };

async function inspect(
  body: Record<string, unknown>,
  index: number,
  authorization: string | null,
): Promise<StandInRequestInfo> {
  const messages = (body.messages as Array<{ role: string; content: string | Part[] }>) ?? [];
  const texts: string[] = [];
  const candidates: Array<{ hash: string; brightness: number }> = [];
  const baseHashes: string[] = [];
  let sawImages = false;
  for (const m of messages) {
    if (typeof m.content === "string") {
      texts.push(m.content);
      continue;
    }
    let label = "";
    // Images are taken from the first message that has them (a re-ask repeats the conversation).
    const takeImages = !sawImages;
    for (const p of m.content) {
      if (p.type === "text" && p.text) {
        texts.push(p.text);
        label = p.text;
      } else if (p.type === "image_url" && p.image_url && takeImages) {
        sawImages = true;
        const d = await decode(p.image_url.url);
        if (/Image BASE/i.test(label)) baseHashes.push(d.hash);
        else candidates.push(d);
      }
    }
  }
  const rf = body.response_format as { type?: string; json_schema?: { name?: string } } | undefined;
  return {
    index,
    text: texts.join("\n"),
    candidateHashes: candidates.map((c) => c.hash),
    baseHash: baseHashes[0] ?? null,
    baseHashes,
    brightness: candidates.map((c) => c.brightness),
    messages: messages.length,
    schema: rf?.json_schema?.name ?? null,
    authorization,
  };
}

/** Rank per presentation position from scores (higher score = rank 1; equal scores keep shown order). */
function ranksFromScores(scores: number[]): number[] {
  const order = scores.map((s, i) => ({ s, i })).sort((a, b) => b.s - a.s || a.i - b.i);
  const rank = new Array<number>(scores.length);
  order.forEach((o, k) => {
    rank[o.i] = k + 1;
  });
  return rank;
}

function itemFraction(info: StandInRequestInfo): number {
  const key = [...info.candidateHashes].sort().join(",");
  return createHash("sha256").update(key).digest().readUInt32LE(0) / 4294967296;
}

function answer(behaviour: StandInBehaviour, rank: number[]): string {
  const n = rank.length;
  const best = rank.indexOf(1) + 1;
  const obj = JSON.stringify({ rank, reason: `Image ${best} is preferred by the stand-in rule.` });
  switch (behaviour) {
    case "fenced":
      return `\`\`\`json\n${obj}\n\`\`\``;
    case "think":
      return `<think>\nLooking at the images. A draft: {"rank": [${Array.from({ length: n }, () => 1).join(", ")}]}. Let me check again.\n</think>\n\n${obj}`;
    case "prose":
      return `I compared the candidates against each rubric.\n\nHere is my verdict: ${obj}\n\nLet me know if you need more detail.`;
    case "text":
      return n === 2 ? `After careful comparison, Image ${best} is better.` : obj;
    case "wrong-length":
      return JSON.stringify({ rank: [...rank, n + 1], reason: "extra value" });
    case "tie":
      return JSON.stringify({ rank: new Array(n).fill(1), reason: "they look equally good" });
    case "garbage":
      return "Both pictures are interesting in their own ways; it is hard to say.";
    case "no-rank":
      return JSON.stringify({ winner: best, reason: "no rank key" });
    case "empty":
      return "";
    default:
      return obj;
  }
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export async function startStandInVlm(options: StandInOptions = {}): Promise<StandInVlm> {
  let script = [...(options.script ?? [])];
  let style: StandInBehaviour = options.style ?? "json";
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const model = options.model ?? "stand-in-vlm";
  let counter = 0;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  const server = createServer(async (req, res) => {
    try {
      if (req.method === "GET" && req.url?.endsWith("/models")) {
        send(res, 200, { object: "list", data: [{ id: model, object: "model", owned_by: "stand-in" }] });
        return;
      }
      if (req.method !== "POST" || !req.url?.endsWith("/chat/completions")) {
        send(res, 404, { error: { message: "not found" } });
        return;
      }
      const body = JSON.parse(await readBody(req)) as Record<string, unknown>;
      const index = counter++;
      const behaviour = script.length > 0 ? (script.shift() as StandInBehaviour) : style;
      const auth = req.headers.authorization ?? null;
      const info = await inspect(body, index, auth);
      const rec: RecordedRequest = { body, info, behaviour, rank: null, biased: false };
      requests.push(rec);

      if (options.apiKey && auth !== `Bearer ${options.apiKey}`) {
        send(res, 401, { error: { message: "invalid api key", type: "invalid_request_error" } });
        return;
      }
      if (options.latencyMs) await sleep(options.latencyMs);
      switch (behaviour) {
        case "http-500":
          send(res, 500, { error: { message: "stand-in internal error" } }, { "retry-after-ms": "5" });
          return;
        case "http-429":
          send(res, 429, { error: { message: "rate limited" } }, { "retry-after-ms": "5" });
          return;
        case "http-400":
          send(res, 400, { error: { message: "bad request" } });
          return;
        case "drop":
          req.socket.destroy();
          return;
        case "timeout":
          await sleep(10 * 60_000);
          return;
      }

      let content: string;
      const wants =
        info.schema ??
        (/"criteria"/.test(info.text)
          ? "arr_criteria"
          : /"categories"/.test(info.text)
            ? "arr_categories"
            : "arr_rank");
      if (wants === "arr_criteria") {
        content = JSON.stringify({
          criteria: ["The brighter image is better.", "Even exposure without dark regions is better."],
          reason: "stand-in criteria",
        });
      } else if (wants === "arr_categories") {
        content = JSON.stringify({
          categories: [{ theme: "Brightness", tips: ["The brighter image is better."] }],
          reason: "stand-in categories",
        });
      } else {
        const n = info.candidateHashes.length;
        const biased =
          n >= 2 &&
          !!options.bias &&
          (options.bias.match ? options.bias.match(info) : itemFraction(info) < (options.bias.fraction ?? 0));
        const rule = options.rule ?? "brighter";
        const scores = biased
          ? info.brightness.map((_, i) => -i)
          : typeof rule === "function"
            ? rule(info)
            : info.brightness.map((b) => (rule === "brighter" ? b : -b));
        const rank = ranksFromScores(scores);
        rec.rank = rank;
        rec.biased = biased;
        content = answer(behaviour, rank);
      }
      const promptTokens = 50 + 100 * info.candidateHashes.length + 100 * info.baseHashes.length;
      send(res, 200, {
        id: `chatcmpl-standin-${index}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
        usage: {
          prompt_tokens: promptTokens,
          completion_tokens: Math.ceil(content.length / 4),
          total_tokens: promptTokens + Math.ceil(content.length / 4),
        },
      });
    } catch (error) {
      if (!res.headersSent) send(res, 500, { error: { message: `stand-in failure: ${String(error)}` } });
    }
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    setScript: (s) => {
      script = [...s];
    },
    setStyle: (s) => {
      style = s;
    },
    close: async () => {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A judge on the stand-in at `url` with default settings, no cache and no retries. */
export function standInJudge(url: string, rubric: { text: string; hash: string } | null = null): Judge {
  const vlm = createVlmClient(
    VlmSchema.parse({ model: "stand-in", base_url: url, max_retries: 0, structured_output: "json_object" }),
    { env: { OPENAI_API_KEY: "test" } },
  );
  return createJudge({
    vlm,
    config: JudgeSchema.parse({ cache_dir: null }),
    image: ImageEncodingSchema.parse({}),
    rubric,
    cacheDir: null,
  });
}

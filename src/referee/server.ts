/**
 * The referee's OpenAI-compatible HTTP surface on loopback: `POST /v1/chat/completions` and
 * `GET /v1/models`. It is the product's offline default judge (the tiny-cpu preset's
 * `vlm.provider: referee`), and it says plainly that it is rule-based, not a VLM.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { answerCategories, answerCriteria, answerRank, DISCLAIMER, type RequestImages } from "./decide.js";
import { type Pixels, pixelsFromDataUrl } from "./features.js";
import { type ParsedRequest, parseChatRequest, RefereeRequestError } from "./request.js";

/** The model id the referee reports. */
export const REFEREE_MODEL = "arr-referee";

/** Options for {@link startReferee}. */
export interface RefereeOptions {
  /** TCP port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  /** Largest request body accepted, in bytes (default 64 MiB: several data-URL images). */
  maxBodyBytes?: number;
}

/** A running referee. */
export interface Referee {
  /** Base URL ending in /v1, for an OpenAI-compatible client. */
  baseUrl: string;
  /** Same as `baseUrl` (the name the VLM client looks for). */
  url: string;
  port: number;
  /** Requests answered so far (200s only). */
  readonly requests: number;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, `request body over ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new HttpError(400, "the request body is not valid JSON");
  }
}

async function decodeImages(req: ParsedRequest): Promise<RequestImages> {
  const decoded = await Promise.all(
    req.images.map(async (image, i) => {
      try {
        return await pixelsFromDataUrl(image.url);
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error);
        throw new HttpError(
          400,
          `image ${i + 1} (${image.label.trim() || "unlabelled"}) cannot be decoded: ${why}`,
        );
      }
    }),
  );
  // Several source images (multi-image edits): none is a candidate; preservation is measured
  // against the first, the image the instruction edits ("the first image").
  const baseIndex = req.images.findIndex((i) => i.base);
  return {
    base: baseIndex >= 0 ? decoded[baseIndex] : undefined,
    candidates: decoded.filter((_, i) => !req.images[i]?.base) as Pixels[],
  };
}

/** Answers one parsed request: the JSON object a model would put in the message content. */
export async function answer(req: ParsedRequest): Promise<Record<string, unknown>> {
  if (req.kind === "arr_categories") return { ...answerCategories(req) };
  const images = await decodeImages(req);
  if (images.candidates.length < (req.kind === "arr_rank" ? 2 : 1)) {
    throw new HttpError(400, `${req.kind} needs candidate images, got ${images.candidates.length}`);
  }
  return req.kind === "arr_rank" ? { ...answerRank(req, images) } : { ...answerCriteria(req, images) };
}

/** Rough token counts (about 4 characters a token, a flat 256 per image): the referee has no tokenizer. */
function usage(req: ParsedRequest, content: string) {
  const prompt = Math.ceil(req.text.length / 4) + 256 * req.images.length;
  const completion = Math.ceil(content.length / 4);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** Starts the referee on 127.0.0.1. */
export async function startReferee(options: RefereeOptions = {}): Promise<Referee> {
  const limit = options.maxBodyBytes ?? 64 * 1024 * 1024;
  let requests = 0;
  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      if (error instanceof HttpError)
        send(res, error.status, { error: { message: error.message, type: "invalid_request_error" } });
      else if (error instanceof RefereeRequestError)
        send(res, 400, { error: { message: error.message, type: "invalid_request_error" } });
      else
        send(res, 500, {
          error: { message: error instanceof Error ? error.message : String(error), type: "server_error" },
        });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0]?.replace(/\/+$/, "") ?? "";
    if (req.method === "GET" && (path === "/v1/models" || path === "/models")) {
      send(res, 200, {
        object: "list",
        data: [{ id: REFEREE_MODEL, object: "model", created: 0, owned_by: `autorubric (${DISCLAIMER})` }],
      });
      return;
    }
    if (req.method === "POST" && (path === "/v1/chat/completions" || path === "/chat/completions")) {
      const body = await readBody(req, limit);
      const parsed = parseChatRequest(body);
      const content = JSON.stringify(await answer(parsed));
      const id = createHash("sha256").update(JSON.stringify(body)).digest("hex").slice(0, 24);
      requests++;
      send(res, 200, {
        id: `chatcmpl-referee-${id}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: REFEREE_MODEL,
        choices: [
          { index: 0, message: { role: "assistant", content }, finish_reason: "stop", logprobs: null },
        ],
        usage: usage(parsed, content),
      });
      return;
    }
    throw new HttpError(
      404,
      `no route ${req.method} ${path}; the referee serves POST /v1/chat/completions and GET /v1/models`,
    );
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const baseUrl = `http://127.0.0.1:${port}/v1`;
  return {
    baseUrl,
    url: baseUrl,
    port,
    get requests() {
      return requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

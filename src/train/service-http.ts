/**
 * The reward service's HTTP plumbing: replies and bounded request bodies. A body over its limit is
 * never read to its end: the reply is 413 and the connection closes.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { z } from "zod";

/** The largest JSON body the service reads (submissions, metrics, events). */
export const MAX_BODY_BYTES = 1 << 20;

export class BodyTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`request body over ${limit} bytes`);
  }
}

export function send(
  res: ServerResponse,
  status: number,
  body?: unknown,
  options: { close?: boolean } = {},
): void {
  if (res.headersSent) return;
  // A refused upload is not read to its end: the connection goes, not the rest of the body.
  const close = options.close ? { connection: "close" } : {};
  if (body === undefined) {
    res.writeHead(status, close).end();
    return;
  }
  res.writeHead(status, { "content-type": "application/json", ...close }).end(JSON.stringify(body));
}

/** The whole body, or {@link BodyTooLarge} as soon as it passes `limit` bytes. */
export async function readBytes(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new BodyTooLarge(limit);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The JSON body (`{}` when empty), or a symbol when it is not JSON. */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const bytes = await readBytes(req, MAX_BODY_BYTES);
  if (bytes.length === 0) return {};
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch {
    return Symbol.for("invalid-json");
  }
}

/** The body parsed by `schema`, or null after answering 400 with what is wrong. */
export function parseBody<T extends z.ZodType>(
  schema: T,
  raw: unknown,
  res: ServerResponse,
  protocol: number,
): z.infer<T> | null {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const detail =
    typeof raw === "symbol"
      ? "body is not JSON"
      : parsed.error.issues.map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`).join("; ");
  send(res, 400, { error: `bad request for protocol v${protocol}: ${detail}` });
  return null;
}

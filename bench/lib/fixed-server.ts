/**
 * A minimal OpenAI-compatible chat server with a fixed latency, for throughput benchmarks.
 *
 * Unlike the test stand-in (test/support/stand-in-vlm.ts) it never decodes images: decoding would
 * put the server's CPU work on the client's clock. It only scans the JSON body for image URLs and
 * ranks the candidates by encoded length (longest first), so both presentation orders of one pair
 * agree and a swap judge reaches a decision. It counts requests, request bytes and the peak number
 * of requests in flight, and serves them under `/bench/stats`.
 *
 * Run it in its own process (`node --import tsx bench/lib/fixed-server.ts`) so the client being
 * measured has the event loop to itself: it prints `{"url": ...}` on stdout once listening.
 * `POST /bench/config {"latencyMs": n}` changes the latency, `POST /bench/reset` clears counters.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";

/** Counters since the last reset. */
export interface ServerStats {
  requests: number;
  /** Sum of request body sizes (bytes on the wire after HTTP framing, excluding headers). */
  bodyBytes: number;
  /** Image parts seen. */
  images: number;
  /** Most requests in flight at once. */
  peakInFlight: number;
}

export interface FixedServer {
  /** Base URL ending in /v1. */
  url: string;
  stats(): ServerStats;
  reset(): void;
  setLatency(ms: number): void;
  close(): Promise<void>;
}

/**
 * Encoded lengths of the image URLs in a chat request body (in presentation order). Scans the raw
 * bytes: turning a 1 MB body into a string would put avoidable CPU on the machine the client shares.
 */
export function imageUrlLengths(body: Buffer | string): number[] {
  const bytes = typeof body === "string" ? Buffer.from(body, "latin1") : body;
  const out: number[] = [];
  let at = 0;
  for (;;) {
    const k = bytes.indexOf('"url"', at);
    if (k < 0) return out;
    const open = bytes.indexOf(0x22, bytes.indexOf(0x3a, k + 5) + 1); // '"' after ':'
    const close = bytes.indexOf(0x22, open + 1);
    if (open < 0 || close < 0) return out;
    out.push(close - open - 1);
    at = close + 1;
  }
}

/** Rank per shown position: the longest encoding is rank 1; equal lengths keep the shown order. */
export function rankByLength(lengths: readonly number[]): number[] {
  const order = lengths.map((len, i) => ({ len, i })).sort((a, b) => b.len - a.len || a.i - b.i);
  const rank = new Array<number>(lengths.length);
  order.forEach((o, k) => {
    rank[o.i] = k + 1;
  });
  return rank;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** The request body, read with plain events (cheaper than async iteration at 1 MB per request). */
function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

export async function startFixedServer(latencyMs = 0): Promise<FixedServer> {
  let latency = latencyMs;
  let stats: ServerStats = { requests: 0, bodyBytes: 0, images: 0, peakInFlight: 0 };
  let inFlight = 0;
  let counter = 0;
  const server: Server = createServer(async (req, res) => {
    const path = req.url ?? "";
    if (req.method === "GET" && path.endsWith("/bench/stats")) return send(res, 200, stats);
    if (req.method === "POST" && path.endsWith("/bench/reset")) {
      await readBody(req);
      stats = { requests: 0, bodyBytes: 0, images: 0, peakInFlight: 0 };
      return send(res, 200, stats);
    }
    if (req.method === "POST" && path.endsWith("/bench/config")) {
      const cfg = JSON.parse((await readBody(req)).toString("utf8")) as { latencyMs?: number };
      if (typeof cfg.latencyMs === "number") latency = cfg.latencyMs;
      return send(res, 200, { latencyMs: latency });
    }
    if (req.method === "GET" && path.endsWith("/models")) {
      return send(res, 200, { object: "list", data: [{ id: "bench", object: "model", owned_by: "bench" }] });
    }
    if (req.method !== "POST" || !path.endsWith("/chat/completions")) {
      return send(res, 404, { error: { message: "not found" } });
    }
    // The latency runs from the request's arrival, so the time this one-thread stand-in spends
    // receiving bodies (its own queue when 32 arrive at once) is not added on top of it.
    const arrived = performance.now();
    inFlight++;
    stats.peakInFlight = Math.max(stats.peakInFlight, inFlight);
    try {
      const body = await readBody(req);
      const lengths = imageUrlLengths(body);
      stats.requests++;
      stats.bodyBytes += body.length;
      stats.images += lengths.length;
      const wait = latency - (performance.now() - arrived);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const rank = rankByLength(lengths);
      const content = JSON.stringify({ rank, reason: "fixed-latency bench server: longest encoding wins" });
      send(res, 200, {
        id: `chatcmpl-bench-${counter++}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: "bench",
        choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
        usage: { prompt_tokens: 50 + 100 * lengths.length, completion_tokens: 20, total_tokens: 70 },
      });
    } finally {
      inFlight--;
    }
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    stats: () => ({ ...stats }),
    reset: () => {
      stats = { requests: 0, bodyBytes: 0, images: 0, peakInFlight: 0 };
    },
    setLatency: (ms) => {
      latency = ms;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const server = await startFixedServer(Number(process.env.BENCH_LATENCY_MS ?? 0));
  process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
  // Ends with its parent: the parent closes our stdin (or dies).
  process.stdin.resume();
  process.stdin.on("end", () => void server.close().then(() => process.exit(0)));
}

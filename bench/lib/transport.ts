/**
 * Where a 512x512 pair's client CPU goes: JSON encoding of the request, and the HTTP POST through
 * the global fetch (what the openai SDK uses) vs node:http with keep-alive, same body, same server.
 */
import { readFile } from "node:fs/promises";
import { Agent, request } from "node:http";

export interface TransportResult {
  bodyBytes: number;
  stringifyCpuMs: number;
  fetchCpuMs: number;
  nodeHttpCpuMs: number;
}

async function cpuPer(n: number, fn: () => Promise<unknown> | unknown): Promise<number> {
  await fn();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000 / n;
}

export async function benchTransport(url: string, images: [string, string]): Promise<TransportResult> {
  const parts = await Promise.all(images.map(async (p) => (await readFile(p)).toString("base64")));
  const body = {
    model: "bench",
    messages: [
      {
        role: "user",
        content: [
          { type: "text", text: "Image 1:" },
          { type: "image_url", image_url: { url: `data:image/png;base64,${parts[0]}` } },
          { type: "text", text: "Image 2:" },
          { type: "image_url", image_url: { url: `data:image/png;base64,${parts[1]}` } },
          { type: "text", text: 'Rank the images. Answer as JSON: {"rank": [...], "reason": "..."}' },
        ],
      },
    ],
  };
  const text = JSON.stringify(body);
  const target = new URL(`${url}/chat/completions`);
  const agent = new Agent({ keepAlive: true });
  const viaHttp = (payload: string) =>
    new Promise<unknown>((resolve, reject) => {
      const buf = Buffer.from(payload);
      const req = request(
        {
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: "POST",
          agent,
          headers: { "content-type": "application/json", "content-length": buf.length },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve(JSON.parse(Buffer.concat(chunks).toString("utf8"))));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(buf);
    });
  const viaFetch = async (payload: string) =>
    (
      await fetch(target, { method: "POST", headers: { "content-type": "application/json" }, body: payload })
    ).json();
  try {
    return {
      bodyBytes: Buffer.byteLength(text),
      stringifyCpuMs: await cpuPer(20, () => JSON.stringify(body)),
      fetchCpuMs: await cpuPer(20, () => viaFetch(text)),
      nodeHttpCpuMs: await cpuPer(20, () => viaHttp(text)),
    };
  } finally {
    agent.destroy();
  }
}

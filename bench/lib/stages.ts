/**
 * Where a 512x512 pair's client CPU goes: each stage of the judge's path timed on its own, with the
 * same two files, body and server, plus the paths the client does not take (JSON.stringify of data
 * URL strings; the global fetch) for comparison. Stages run in alternating rounds and each reports
 * its median round, so a burst of other work on the machine moves one round, not the figure.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { Agent, request } from "node:http";
import { ImageEncodingSchema } from "../../src/config/schema.js";
import { BufferPool } from "../../src/vlm/buffer-pool.js";
import { prepareImage, readImageBytes } from "../../src/vlm/images.js";
import { encodeRequestBody } from "../../src/vlm/request-body.js";
import { createTransport } from "../../src/vlm/transport.js";
import { sampleQuantile } from "./stats.js";

export interface StageRow {
  stage: string;
  /** Whether the judge takes this path (false: shown for comparison). */
  used: boolean;
  /** Median CPU ms per pair over the rounds. */
  cpuMs: number;
}

export interface StagesResult {
  bodyBytes: number;
  rows: StageRow[];
}

interface Stage {
  stage: string;
  used: boolean;
  run: () => Promise<unknown> | unknown;
}

async function measure(stages: readonly Stage[], rounds: number, perRound: number): Promise<StageRow[]> {
  for (const s of stages) for (let i = 0; i < 3; i++) await s.run();
  const cpu = stages.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    for (const [k, s] of stages.entries()) {
      const c0 = process.cpuUsage();
      for (let i = 0; i < perRound; i++) await s.run();
      const c = process.cpuUsage(c0);
      cpu[k]?.push((c.user + c.system) / 1000 / perRound);
    }
  }
  return stages.map((s, k) => ({ stage: s.stage, used: s.used, cpuMs: sampleQuantile(cpu[k] ?? [], 0.5) }));
}

export async function benchStages(url: string, images: [string, string], rounds = 9): Promise<StagesResult> {
  const encoding = ImageEncodingSchema.parse({});
  const pool = new BufferPool();
  const bytes = await Promise.all(images.map((p) => readFile(p)));
  const hashes = bytes.map((b) => createHash("sha256").update(b).digest("hex"));
  const prepared = await Promise.all(
    images.map((p, i) => prepareImage(p, encoding, { bytes: bytes[i] as Buffer, hash: hashes[i] as string })),
  );
  const text = { type: "text", text: 'Rank the images. Answer as JSON: {"rank": [...], "reason": "..."}' };
  const inline = {
    model: "bench",
    messages: [{ role: "user", content: [...prepared.map((p) => p.part), text] }],
  };
  const asUrls = {
    model: "bench",
    messages: [
      {
        role: "user",
        content: [...prepared.map((p) => ({ type: "image_url", image_url: { url: p.url } })), text],
      },
    ],
  };
  const body = encodeRequestBody(inline);
  const target = new URL(`${url}/chat/completions`);
  const headers = { "content-type": "application/json" };
  const transport = createTransport();
  const agent = new Agent({ keepAlive: true });
  const viaNodeHttp = () =>
    new Promise<unknown>((resolve, reject) => {
      const req = request(
        {
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: "POST",
          agent,
          headers: { ...headers, "content-length": body.length },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve(JSON.parse(Buffer.concat(chunks).toString("utf8"))));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  const stages: Stage[] = [
    {
      stage: "read both files (pooled, synchronous)",
      used: true,
      run: async () => {
        const read = await Promise.all(images.map((p) => readImageBytes(p, { pool })));
        for (const b of read) pool.release(b);
      },
    },
    {
      stage: "sha256 of both files (cache identity)",
      used: true,
      run: () => bytes.map((b) => createHash("sha256").update(b).digest("hex")),
    },
    {
      stage: "check both headers, pass the bytes through",
      used: true,
      run: () =>
        Promise.all(
          images.map((p, i) => prepareImage(p, encoding, { bytes: bytes[i] as Buffer, hash: "known" })),
        ),
    },
    {
      stage: "encode the request body (base64 sliced into one buffer)",
      used: true,
      run: () => pool.release(encodeRequestBody(inline, pool)),
    },
    {
      stage: "JSON.stringify of the same request, data URL strings",
      used: false,
      run: () => JSON.stringify(asUrls),
    },
    {
      stage: "POST + reply: the client's transport (undici request)",
      used: true,
      run: async () => (await transport(target.href, { method: "POST", headers, body })).json(),
    },
    {
      stage: "POST + reply: global fetch (the SDK's default)",
      used: false,
      run: async () => (await fetch(target, { method: "POST", headers, body })).json(),
    },
    { stage: "POST + reply: node:http with keep-alive", used: false, run: viaNodeHttp },
  ];
  try {
    return { bodyBytes: body.length, rows: await measure(stages, rounds, 10) };
  } finally {
    agent.destroy();
  }
}

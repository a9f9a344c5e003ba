/**
 * Judge benchmarks: throughput against a fixed-latency server (as a share of the ideal
 * concurrency / latency) and client-side overhead per pair (read, validate, resize, encode,
 * request, parse) against a zero-latency server.
 */

import { randomBytes } from "node:crypto";
import { request } from "undici";
import { type ImageEncoding, JudgeSchema, VlmSchema } from "../src/config/schema.js";
import { type CompareInput, createJudge, type Judge, type OrderPolicy } from "../src/judge/judge.js";
import { createVlmClient } from "../src/vlm/client.js";
import type { ServerProcess } from "./lib/server-process.js";
import { sampleQuantile } from "./lib/stats.js";

export interface JudgeSetup {
  url: string;
  concurrency: number;
  order: OrderPolicy;
  encoding?: Partial<ImageEncoding>;
  /** Verdict cache folder (null: none). */
  cacheDir?: string | null;
}

export function benchJudge(setup: JudgeSetup): Judge {
  const vlm = VlmSchema.parse({
    model: "bench",
    base_url: setup.url,
    concurrency: setup.concurrency,
    max_retries: 0,
    timeout_ms: 60_000,
    image: setup.encoding ?? {},
  });
  return createJudge({
    vlm: createVlmClient(vlm),
    config: JudgeSchema.parse({ order: setup.order, cache_dir: null, reask: 0 }),
    image: vlm.image,
    cacheDir: setup.cacheDir ?? null,
  });
}

/** Distinct prompts, so neither the cache nor in-flight sharing can merge two pairs. */
export function pairInputs(images: readonly string[], count: number, tag: string): CompareInput[] {
  const n = images.length;
  return Array.from({ length: count }, (_, i) => ({
    id: `${tag}-${i}`,
    prompt: `bench pair ${tag} ${i}: a photo of a lighthouse at dusk`,
    candidates: [images[(2 * i) % n] as string, images[(2 * i + 1) % n] as string],
  }));
}

export interface ThroughputRow {
  client: ThroughputClient["kind"];
  /** Request body size of a raw-http control (bytes). */
  bodyBytes?: number;
  /** Side of the square test images (px); 0 for the raw HTTP control. */
  imagePx: number;
  latencyMs: number;
  concurrency: number;
  pairs: number;
  wallS: number;
  pairsPerS: number;
  idealPairsPerS: number;
  /** pairsPerS / idealPairsPerS */
  ratio: number;
  peakInFlight: number;
  decided: number;
}

/** Ideal pairs per second with `concurrency` calls in flight and `callsPerPair` calls per pair. */
export function idealPairsPerSecond(concurrency: number, latencyMs: number, callsPerPair = 1): number {
  return concurrency / callsPerPair / (latencyMs / 1000);
}

/**
 * What makes the calls: the judge (read, hash, encode, SDK, verdict), or, as a control, bare undici
 * requests that send one prebuilt chat body of about `bodyBytes` (no SDK, no judge, no per-call
 * work): the ceiling of the server, loopback and scheduling on this machine for that body size.
 */
export type ThroughputClient =
  | { kind: "judge"; images: readonly string[] }
  | { kind: "raw-http"; bodyBytes: number };

/** A chat body with two image data URLs of about `bytes` in all (random base64). */
function rawBody(bytes: number): string {
  const half = randomBytes(Math.max(3, Math.floor((bytes * 3) / 8))).toString("base64");
  const image = { type: "image_url", image_url: { url: `data:image/png;base64,${half}` } };
  return JSON.stringify({ model: "bench", messages: [{ role: "user", content: [image, image] }] });
}

async function rawHttpCalls(url: string, concurrency: number, calls: number, body: string): Promise<void> {
  let issued = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (issued < calls) {
        issued++;
        const res = await request(`${url}/chat/completions`, {
          method: "POST",
          body,
          headers: { "content-type": "application/json" },
        });
        await res.body.json();
      }
    }),
  );
}

export async function throughput(
  server: ServerProcess,
  client: ThroughputClient,
  imagePx: number,
  latencyMs: number,
  concurrency: number,
  pairs: number,
): Promise<ThroughputRow> {
  await server.setLatency(latencyMs);
  let run: (n: number, tag: string) => Promise<number>;
  if (client.kind === "judge") {
    const judge = benchJudge({ url: server.url, concurrency, order: "single" });
    run = async (n, tag) => {
      const verdicts = await judge.compareMany(pairInputs(client.images, n, tag), { concurrency });
      return verdicts.filter((v) => v.outcome === "decided").length;
    };
  } else {
    const body = rawBody(client.bodyBytes);
    run = async (n) => {
      await rawHttpCalls(server.url, concurrency, n, body);
      return n;
    };
  }
  // Warm the connection pool and sharp so the first wave does not pay setup costs.
  await run(Math.min(concurrency, 8), `warm-${latencyMs}-${concurrency}`);
  await server.reset();
  const t0 = performance.now();
  const decided = await run(pairs, `tp-${latencyMs}-${concurrency}`);
  const wallS = (performance.now() - t0) / 1000;
  const stats = await server.stats();
  const ideal = idealPairsPerSecond(concurrency, latencyMs);
  const pairsPerS = pairs / wallS;
  return {
    client: client.kind,
    // As the server counted it (the body is random, so it is measured rather than rebuilt).
    ...(client.kind === "raw-http" ? { bodyBytes: stats.bodyBytes / stats.requests } : {}),
    imagePx,
    latencyMs,
    concurrency,
    pairs,
    wallS,
    pairsPerS,
    idealPairsPerS: ideal,
    ratio: pairsPerS / ideal,
    peakInFlight: stats.peakInFlight,
    decided,
  };
}

export interface OverheadRow {
  label: string;
  size: number;
  encoding: Partial<ImageEncoding>;
  /** Pairs per batch and batches measured. */
  pairs: number;
  batches: number;
  /** Wall ms per pair, sequential, zero server latency (includes the server's own handling); median batch. */
  wallMsPerPair: number;
  /** Client process CPU ms per pair (user + system): the pure client cost; median batch. */
  cpuMsPerPair: number;
  /** Lowest and highest batch (CPU ms per pair): the spread other work on the machine adds. */
  cpuMsRange: [number, number];
  /** Request body bytes per pair, measured at the server. */
  bytesPerPair: number;
  /** Whether the images went out unchanged (no decode/re-encode). */
  passthrough: boolean;
}

/**
 * Sequential pairs against a zero-latency server, in batches. Each batch's CPU and wall time per pair
 * is measured on its own and the median batch is reported: on a shared machine a burst of other
 * work inflates one batch, not the figure.
 */
export async function overhead(
  server: ServerProcess,
  images: readonly string[],
  size: number,
  label: string,
  encoding: Partial<ImageEncoding>,
  pairs: number,
  batches = 7,
): Promise<OverheadRow> {
  await server.setLatency(0);
  const judge = benchJudge({ url: server.url, concurrency: 1, order: "single", encoding });
  await judge.compareMany(pairInputs(images, 4, `ow-${label}-${size}`), { concurrency: 1 });
  await server.reset();
  const cpu: number[] = [];
  const wall: number[] = [];
  let decided = 0;
  for (let b = 0; b < batches; b++) {
    const inputs = pairInputs(images, pairs, `ov-${label}-${size}-${b}`);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const verdicts = await judge.compareMany(inputs, { concurrency: 1 });
    wall.push((performance.now() - t0) / pairs);
    const c = process.cpuUsage(cpu0);
    cpu.push((c.user + c.system) / 1000 / pairs);
    decided += verdicts.filter((v) => v.outcome === "decided").length;
  }
  const stats = await server.stats();
  return {
    label,
    size,
    encoding,
    pairs,
    batches,
    wallMsPerPair: sampleQuantile(wall, 0.5),
    cpuMsPerPair: sampleQuantile(cpu, 0.5),
    cpuMsRange: [Math.min(...cpu), Math.max(...cpu)],
    bytesPerPair: stats.bodyBytes / (pairs * batches),
    passthrough: decided === pairs * batches && (await isPassthrough(images[0], encoding)),
  };
}

async function isPassthrough(image: string | undefined, encoding: Partial<ImageEncoding>): Promise<boolean> {
  if (!image) return false;
  const { prepareImage } = await import("../src/vlm/images.js");
  const { ImageEncodingSchema } = await import("../src/config/schema.js");
  return (await prepareImage(image, ImageEncodingSchema.parse(encoding))).passthrough;
}

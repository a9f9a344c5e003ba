/**
 * Judge benchmarks: throughput against a fixed-latency server (as a share of the ideal
 * concurrency / latency) and client-side overhead per pair (read, validate, resize, encode,
 * request, parse) against a zero-latency server.
 */
import { type ImageEncoding, JudgeSchema, VlmSchema } from "../src/config/schema.js";
import { type CompareInput, createJudge, type Judge, type OrderPolicy } from "../src/judge/judge.js";
import { createVlmClient } from "../src/vlm/client.js";
import type { ServerProcess } from "./lib/server-process.js";

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

export async function throughput(
  server: ServerProcess,
  images: readonly string[],
  latencyMs: number,
  concurrency: number,
  pairs: number,
): Promise<ThroughputRow> {
  await server.setLatency(latencyMs);
  const judge = benchJudge({ url: server.url, concurrency, order: "single" });
  // Warm the connection pool and sharp so the first wave does not pay setup costs.
  await judge.compareMany(pairInputs(images, Math.min(concurrency, 8), `warm-${latencyMs}-${concurrency}`), {
    concurrency,
  });
  await server.reset();
  const inputs = pairInputs(images, pairs, `tp-${latencyMs}-${concurrency}`);
  const t0 = performance.now();
  const verdicts = await judge.compareMany(inputs, { concurrency });
  const wallS = (performance.now() - t0) / 1000;
  const stats = await server.stats();
  const ideal = idealPairsPerSecond(concurrency, latencyMs);
  const pairsPerS = pairs / wallS;
  return {
    latencyMs,
    concurrency,
    pairs,
    wallS,
    pairsPerS,
    idealPairsPerS: ideal,
    ratio: pairsPerS / ideal,
    peakInFlight: stats.peakInFlight,
    decided: verdicts.filter((v) => v.outcome === "decided").length,
  };
}

export interface OverheadRow {
  label: string;
  size: number;
  encoding: Partial<ImageEncoding>;
  pairs: number;
  /** Wall ms per pair, sequential, zero server latency (includes the server's own handling). */
  wallMsPerPair: number;
  /** Client process CPU ms per pair (user + system): the pure client cost. */
  cpuMsPerPair: number;
  /** Request body bytes per pair, measured at the server. */
  bytesPerPair: number;
  /** Whether the images went out unchanged (no decode/re-encode). */
  passthrough: boolean;
}

export async function overhead(
  server: ServerProcess,
  images: readonly string[],
  size: number,
  label: string,
  encoding: Partial<ImageEncoding>,
  pairs: number,
): Promise<OverheadRow> {
  await server.setLatency(0);
  const judge = benchJudge({ url: server.url, concurrency: 1, order: "single", encoding });
  await judge.compareMany(pairInputs(images, 4, `ow-${label}-${size}`), { concurrency: 1 });
  await server.reset();
  const inputs = pairInputs(images, pairs, `ov-${label}-${size}`);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const verdicts = await judge.compareMany(inputs, { concurrency: 1 });
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const stats = await server.stats();
  return {
    label,
    size,
    encoding,
    pairs,
    wallMsPerPair: wall / pairs,
    cpuMsPerPair: (cpu.user + cpu.system) / 1000 / pairs,
    bytesPerPair: stats.bodyBytes / pairs,
    passthrough: verdicts.every((v) => v.outcome === "decided") && (await isPassthrough(images[0], encoding)),
  };
}

async function isPassthrough(image: string | undefined, encoding: Partial<ImageEncoding>): Promise<boolean> {
  if (!image) return false;
  const { prepareImage } = await import("../src/vlm/images.js");
  const { ImageEncodingSchema } = await import("../src/config/schema.js");
  return (await prepareImage(image, ImageEncodingSchema.parse(encoding))).passthrough;
}

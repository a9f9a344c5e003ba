/**
 * Asking the judge about one presentation order: build the request, call the VLM, parse the reply,
 * re-ask (bounded by `judge.reask`) while it is unusable, and map the rank back to the caller's
 * order. Each order is cached on its own (so a swap run reuses a single-order run), and the same
 * question asked twice at once is paid for once. Bad model output is never an exception here: after
 * the re-asks it is returned as an unusable answer.
 */
import type { ImageEncoding, JudgeConfig, Task } from "../config/schema.js";
import { cacheKey } from "../util/content-key.js";
import type { ChatMessage, VlmClient } from "../vlm/client.js";
import {
  encodingKey,
  hashBytes,
  type ImageInput,
  type PreparedImage,
  type PrepareOptions,
  prepareImage,
  readImageBytes,
} from "../vlm/images.js";
import type { TokenUsage, UsageMeter } from "../vlm/usage.js";
import type { CachedOrder, VerdictCache } from "./cache.js";
import { toCallerOrder } from "./orders.js";
import { parseVerdict } from "./parse.js";
import { buildJudgeMessages, buildReaskMessage, RANK_SCHEMA, TEMPLATE_VERSION } from "./prompt.js";
import type { OrderVerdict } from "./types.js";

export const ZERO_USAGE: TokenUsage = { promptTokens: 0, completionTokens: 0 };

/**
 * An image whose cache identity (the hash of its bytes) is known before it is encoded: a cache hit
 * must not pay for decoding, resizing and re-encoding (measured in bench/: a fully cached pass over
 * 1024 px pairs at max_side 512 cost about as much as the first one).
 */
export interface LazyImage {
  hash: string;
  /** The bytes read (pool memory when read from a file: released when the comparison ends). */
  bytes: Buffer;
  prepared(): Promise<PreparedImage>;
}

export async function lazyImage(
  input: ImageInput,
  encoding: ImageEncoding,
  options: PrepareOptions,
): Promise<LazyImage> {
  const bytes = await readImageBytes(input, options);
  const hash = hashBytes(bytes);
  let once: Promise<PreparedImage> | null = null;
  return {
    hash,
    bytes,
    prepared: () => {
      once ??= prepareImage(input, encoding, { ...options, bytes, hash });
      return once;
    },
  };
}

/** One comparison's question: the same for every presentation order. */
export interface Question {
  task: Task;
  prompt: string;
  /** Candidates in the caller's order. */
  images: LazyImage[];
  /** The edit's source images, in order (empty for text-to-image). */
  sources: LazyImage[];
}

export interface OrderAskerOptions {
  vlm: VlmClient;
  config: JudgeConfig;
  image: ImageEncoding;
  rubric: { text: string; hash: string } | null;
  cache: VerdictCache | null;
  meter: UsageMeter;
}

export interface OrderAsker {
  /** The answer for one presentation order (`permutation[k]` = caller index shown at position k). */
  ask(question: Question, permutation: number[], signal: AbortSignal | undefined): Promise<OrderVerdict>;
  /** Calls made (re-asks included), re-asks, and cache writes that failed. */
  readonly counts: { calls: number; reasks: number; cacheWriteErrors: number };
}

export function createOrderAsker(options: OrderAskerOptions): OrderAsker {
  const { vlm, config, image, rubric, cache, meter } = options;
  // The client records into its own meter; charge ours only when it is a different one.
  const charge = meter !== vlm.meter;
  const inflight = new Map<string, Promise<CachedOrder>>();
  const counts = { calls: 0, reasks: 0, cacheWriteErrors: 0 };

  async function call(messages: ChatMessage[], signal: AbortSignal | undefined) {
    const settle = charge ? meter.reserve() : null;
    try {
      const res = await vlm.complete({ messages, schema: RANK_SCHEMA, ...(signal ? { signal } : {}) });
      settle?.(res.usage);
      counts.calls++;
      return res;
    } catch (error) {
      settle?.();
      throw error;
    }
  }

  /** Asks for the shown candidates, re-asking on unusable answers; never throws for bad output. */
  async function request(
    q: Question,
    lazyShown: LazyImage[],
    signal: AbortSignal | undefined,
  ): Promise<CachedOrder> {
    const n = lazyShown.length;
    const [shown, sources] = await Promise.all([
      Promise.all(lazyShown.map((s) => s.prepared())),
      Promise.all(q.sources.map((s) => s.prepared())),
    ]);
    const messages = buildJudgeMessages({
      task: q.task,
      language: config.language,
      prompt: q.prompt,
      candidates: shown.map((s) => s.part),
      sources: sources.map((s) => s.part),
      rubricText: rubric?.text ?? null,
      taskDescription: config.task_description,
    });
    const usage = { promptTokens: 0, completionTokens: 0 };
    const started = performance.now();
    for (let attempt = 1; ; attempt++) {
      const res = await call(messages, signal);
      usage.promptTokens += res.usage.promptTokens;
      usage.completionTokens += res.usage.completionTokens;
      const parsed = parseVerdict(res.text, n);
      const latencyMs = performance.now() - started;
      // Field order as stored in the cache since format 1.
      if (parsed.ok) {
        return {
          raw: res.text,
          rank: parsed.rank,
          reason: parsed.reason,
          attempts: attempt,
          usage,
          latencyMs,
          model: res.model,
        };
      }
      if (attempt > config.reask) {
        return {
          raw: res.text,
          rank: null,
          reason: parsed.detail,
          error: parsed.reason,
          attempts: attempt,
          usage,
          latencyMs,
          model: res.model,
        };
      }
      counts.reasks++;
      messages.push(
        { role: "assistant", content: res.text },
        buildReaskMessage(n, config.language, parsed.detail),
      );
    }
  }

  async function ask(
    q: Question,
    permutation: number[],
    signal: AbortSignal | undefined,
  ): Promise<OrderVerdict> {
    const shown = permutation.map((i) => q.images[i] as LazyImage);
    // Everything that can change the answer, so equal keys mean the same question.
    const key = cacheKey({
      model: vlm.model,
      template: TEMPLATE_VERSION,
      rubric: rubric?.hash ?? null,
      task: q.task,
      language: config.language,
      taskDescription: config.task_description,
      reask: config.reask,
      prompt: q.prompt,
      // One source keeps the key it always had, so existing caches still hit.
      source: q.sources.length <= 1 ? (q.sources[0]?.hash ?? null) : q.sources.map((s) => s.hash),
      images: shown.map((s) => s.hash),
      encoding: encodingKey(image),
      params: vlm.params ?? null,
    });
    let cached = false;
    let pending = inflight.get(key);
    if (!pending) {
      pending = (async () => {
        const hit = cache ? await cache.get(key) : null;
        if (hit) {
          cached = true;
          return hit;
        }
        const value = await request(q, shown, signal);
        if (cache) {
          await cache.set(key, value).catch(() => {
            counts.cacheWriteErrors++;
          });
        }
        return value;
      })();
      inflight.set(key, pending);
      pending.then(
        () => inflight.delete(key),
        () => inflight.delete(key),
      );
    } else {
      // Another comparison is asking the very same question right now: share its answer, pay once.
      cached = true;
    }
    const v = await pending;
    const out: OrderVerdict = {
      permutation,
      raw: v.raw,
      rank: v.rank,
      ranking: v.rank ? toCallerOrder(v.rank, permutation) : null,
      reason: v.reason,
      attempts: v.attempts,
      cached,
      latencyMs: cached ? 0 : v.latencyMs,
      usage: cached ? ZERO_USAGE : v.usage,
    };
    if (v.error) out.error = v.error;
    return out;
  }

  return { ask, counts };
}

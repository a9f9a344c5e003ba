/**
 * The rubric-conditioned judge: compares a prompt (and an edit's source image) with 2..N candidates
 * and returns a verdict with rewards. Position bias is handled by the order policy:
 *   single  the caller's order;
 *   swap    the caller's order and the reverse; agreement decides, disagreement is a tie, and an
 *           unusable answer in either order makes the verdict invalid (never decided from one order);
 *   random  one order drawn from a seeded RNG keyed by the item (recorded in the verdict).
 * Each presentation order is cached on its own, so a swap run reuses a single-order run.
 * Bad model output is not an exception: it is re-asked, then recorded as invalid and counted.
 */
import { createHash } from "node:crypto";
import type { ImageEncoding, Task } from "../config/schema.js";
import type { PreferencePair } from "../data/pairs.js";
import { AbortError, ArrError, BudgetExceededError, RubricError } from "../errors.js";
import { cacheKey } from "../util/content-key.js";
import { mapLimited } from "../util/map-limited.js";
import { seededRng } from "../util/random.js";
import { BufferPool } from "../vlm/buffer-pool.js";
import type { ChatMessage } from "../vlm/client.js";
import {
  encodingKey,
  hashBytes,
  type ImageInput,
  type PreparedImage,
  type PrepareOptions,
  prepareImage,
  readImageBytes,
} from "../vlm/images.js";
import { type TokenUsage, UsageMeter } from "../vlm/usage.js";
import { type CachedOrder, VerdictCache } from "./cache.js";
import { parseVerdict } from "./parse.js";
import { buildJudgeMessages, buildReaskMessage, RANK_SCHEMA, TEMPLATE_VERSION } from "./prompt.js";
import { DEFAULT_REWARD_SCALE, verdictRewards } from "./reward.js";
import type {
  CompareInput,
  CompareManyOptions,
  CompareProgress,
  CreateJudgeOptions,
  Judge,
  OrderVerdict,
  Verdict,
} from "./types.js";

export type * from "./types.js";

/** A comparison input for a preference pair. */
export function compareInputFromPair(pair: PreferencePair): CompareInput {
  const input: CompareInput = { id: pair.id, prompt: pair.prompt, candidates: pair.images, task: pair.task };
  if (pair.sourceImage) input.sourceImage = pair.sourceImage;
  return input;
}

/**
 * The random policy's order for one item: seeded by the config seed and the item's content, so it
 * does not depend on the order in which concurrent comparisons run.
 */
export function randomPermutation(n: number, seed: number, itemKey: string): number[] {
  const h = createHash("sha256").update(`${seed}:${itemKey}`).digest();
  const next = seededRng(h.readUInt32LE(0));
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [p[i], p[j]] = [p[j] as number, p[i] as number];
  }
  return p;
}

function identity(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function sameRanking(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

const ZERO_USAGE: TokenUsage = { promptTokens: 0, completionTokens: 0 };

/**
 * An image whose cache identity (the hash of its bytes) is known before it is encoded: a cache hit
 * must not pay for decoding, resizing and re-encoding (measured in bench/: a fully cached pass over
 * 1024 px pairs at max_side 512 cost about as much as the first one).
 */
interface LazyImage {
  hash: string;
  /** The bytes read (pool memory when read from a file: released when the comparison ends). */
  bytes: Buffer;
  prepared(): Promise<PreparedImage>;
}

async function lazyImage(
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

export function createJudge(options: CreateJudgeOptions): Judge {
  const { vlm, config, image } = options;
  const rubric = options.rubric ?? null;
  if (rubric && rubric.text.trim() === "") {
    throw new RubricError("the rubric text is empty", {
      hint: "induce or write a rubric first, or pass rubric: null to judge without one (zero-shot)",
    });
  }
  const cacheDir = options.cacheDir === undefined ? config.cache_dir : options.cacheDir;
  const cache = cacheDir ? new VerdictCache(cacheDir) : null;
  const meter = options.meter ?? new UsageMeter({ budget: config.budget, price: vlm.meter?.price ?? null });
  // The client records into its own meter; charge ours only when it is a different one.
  const charge = meter !== vlm.meter;
  const scale = options.rewardScale ?? DEFAULT_REWARD_SCALE;
  const inflight = new Map<string, Promise<CachedOrder>>();
  const pool = new BufferPool();
  let calls = 0;
  let reasks = 0;
  let cacheWriteErrors = 0;

  async function call(messages: ChatMessage[], signal: AbortSignal | undefined) {
    const settle = charge ? meter.reserve() : null;
    try {
      const res = await vlm.complete({ messages, schema: RANK_SCHEMA, ...(signal ? { signal } : {}) });
      settle?.(res.usage);
      calls++;
      return res;
    } catch (error) {
      settle?.();
      throw error;
    }
  }

  /** Asks for one presentation order, re-asking on unusable answers; never throws for bad output. */
  async function ask(
    task: Task,
    prompt: string,
    lazyShown: LazyImage[],
    lazySource: LazyImage | undefined,
    signal: AbortSignal | undefined,
  ): Promise<CachedOrder> {
    const n = lazyShown.length;
    const [shown, source] = await Promise.all([
      Promise.all(lazyShown.map((s) => s.prepared())),
      lazySource?.prepared(),
    ]);
    const messages = buildJudgeMessages({
      task,
      language: config.language,
      prompt,
      candidates: shown.map((s) => s.part),
      source: source?.part,
      rubricText: rubric?.text ?? null,
      taskDescription: config.task_description,
    });
    const usage = { promptTokens: 0, completionTokens: 0 };
    const started = performance.now();
    let model = vlm.model;
    for (let attempt = 1; ; attempt++) {
      const res = await call(messages, signal);
      usage.promptTokens += res.usage.promptTokens;
      usage.completionTokens += res.usage.completionTokens;
      model = res.model;
      const parsed = parseVerdict(res.text, n);
      const latencyMs = performance.now() - started;
      if (parsed.ok) {
        return {
          raw: res.text,
          rank: parsed.rank,
          reason: parsed.reason,
          attempts: attempt,
          usage,
          latencyMs,
          model,
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
          model,
        };
      }
      reasks++;
      messages.push(
        { role: "assistant", content: res.text },
        buildReaskMessage(n, config.language, parsed.detail),
      );
    }
  }

  async function runOrder(
    task: Task,
    prompt: string,
    images: LazyImage[],
    source: LazyImage | undefined,
    permutation: number[],
    signal: AbortSignal | undefined,
  ): Promise<OrderVerdict> {
    const shown = permutation.map((i) => images[i] as LazyImage);
    const key = cacheKey({
      model: vlm.model,
      template: TEMPLATE_VERSION,
      rubric: rubric?.hash ?? null,
      task,
      language: config.language,
      taskDescription: config.task_description,
      reask: config.reask,
      prompt,
      source: source?.hash ?? null,
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
        const value = await ask(task, prompt, shown, source, signal);
        if (cache) {
          await cache.set(key, value).catch(() => {
            cacheWriteErrors++;
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
    let ranking: number[] | null = null;
    if (v.rank) {
      ranking = new Array<number>(v.rank.length);
      for (const [k, callerIndex] of permutation.entries()) ranking[callerIndex] = v.rank[k] as number;
    }
    const out: OrderVerdict = {
      permutation,
      raw: v.raw,
      rank: v.rank,
      ranking,
      reason: v.reason,
      attempts: v.attempts,
      cached,
      latencyMs: cached ? 0 : v.latencyMs,
      usage: cached ? ZERO_USAGE : v.usage,
    };
    if (v.error) out.error = v.error;
    return out;
  }

  async function compare(input: CompareInput): Promise<Verdict> {
    const started = performance.now();
    const n = input.candidates.length;
    if (n < 2)
      throw new ArrError(`a comparison needs at least 2 candidates, got ${n}`, { hint: "pass 2..N images" });
    const signal = input.signal;
    if (signal?.aborted) throw new AbortError("comparison cancelled");
    const task: Task = input.task ?? (input.sourceImage != null ? "edit" : config.task);
    const prep = { pool, ...(signal ? { signal } : {}) };
    // Every image is read once and encoded at most once (only on a cache miss), whatever the orders.
    const [images, source] = await Promise.all([
      Promise.all(input.candidates.map((c) => lazyImage(c, image, { ...prep, role: "candidate" }))),
      input.sourceImage != null
        ? lazyImage(input.sourceImage, image, { ...prep, role: "source" })
        : undefined,
    ]);
    try {
      return await decide(input, task, images, source, started);
    } finally {
      // Every request that used these bytes has finished: allSettled in decide() waits for both orders.
      for (const img of source ? [...images, source] : images) pool.release(img.bytes);
    }
  }

  async function decide(
    input: CompareInput,
    task: Task,
    images: LazyImage[],
    source: LazyImage | undefined,
    started: number,
  ): Promise<Verdict> {
    const n = images.length;
    const signal = input.signal;
    const policy = input.order ?? config.order;
    const perms =
      policy === "swap"
        ? [identity(n), identity(n).reverse()]
        : policy === "random"
          ? [
              randomPermutation(
                n,
                config.seed,
                `${input.prompt}\u0000${source?.hash ?? ""}\u0000${images.map((i) => i.hash).join(",")}`,
              ),
            ]
          : [identity(n)];
    // allSettled: when one order hits the budget, the other's call (already paid) still finishes
    // and lands in the cache before the error propagates, so nothing is left running or lost.
    const settled = await Promise.allSettled(
      perms.map((p) => runOrder(task, input.prompt, images, source, p, signal)),
    );
    const rejected = settled.find((r) => r.status === "rejected");
    if (rejected) throw (rejected as PromiseRejectedResult).reason;
    const orders = settled.map((r) => (r as PromiseFulfilledResult<OrderVerdict>).value);

    let outcome: Verdict["outcome"];
    let ranking: number[] | null = null;
    let agreement: boolean | null = null;
    let reason: string;
    const [a, b] = orders as [OrderVerdict, OrderVerdict | undefined];
    if (policy !== "swap") {
      outcome = a.ranking ? "decided" : "invalid";
      ranking = a.ranking;
      reason = a.reason;
    } else if (a.ranking && b?.ranking) {
      agreement = sameRanking(a.ranking, b.ranking);
      outcome = agreement ? "decided" : "tie";
      ranking = agreement ? a.ranking : null;
      reason = agreement ? a.reason : `the two presentation orders disagree: ${a.reason} | ${b.reason}`;
    } else {
      outcome = "invalid";
      reason = orders.map((o) => o.error ?? "ok").join(" | ");
    }
    if (outcome === "invalid" && config.invalid_policy === "fail") {
      throw new ArrError(
        `the judge gave no usable ranking${input.id ? ` for ${input.id}` : ""} (${reason})`,
        {
          hint: "set judge.invalid_policy: zero to record unusable verdicts with zero reward, or raise judge.reask",
        },
      );
    }
    const verdict: Verdict = {
      outcome,
      ranking,
      winner: ranking ? ranking.indexOf(1) : null,
      rewards: verdictRewards(outcome, ranking, n, { tie: config.tie_policy, scale }),
      reason,
      orders,
      agreement,
      orderPolicy: policy,
      latencyMs: performance.now() - started,
      usage: orders.reduce(
        (u, o) => ({
          promptTokens: u.promptTokens + o.usage.promptTokens,
          completionTokens: u.completionTokens + o.usage.completionTokens,
        }),
        { promptTokens: 0, completionTokens: 0 },
      ),
      cached: orders.every((o) => o.cached),
      model: vlm.model,
      templateVersion: TEMPLATE_VERSION,
      rubricHash: rubric?.hash ?? null,
    };
    if (input.id !== undefined) verdict.id = input.id;
    return verdict;
  }

  function failedVerdict(input: CompareInput, error: unknown): Verdict {
    const n = input.candidates.length;
    const v: Verdict = {
      outcome: "invalid",
      ranking: null,
      winner: null,
      rewards: new Array<number>(n).fill(0),
      reason: "the comparison failed",
      orders: [],
      agreement: null,
      orderPolicy: input.order ?? config.order,
      latencyMs: 0,
      usage: { ...ZERO_USAGE },
      cached: false,
      model: vlm.model,
      templateVersion: TEMPLATE_VERSION,
      rubricHash: rubric?.hash ?? null,
      error: error instanceof Error ? error.message : String(error),
    };
    if (input.id !== undefined) v.id = input.id;
    return v;
  }

  async function compareMany(
    inputs: readonly CompareInput[],
    opts: CompareManyOptions = {},
  ): Promise<Verdict[]> {
    const progress: CompareProgress = {
      done: 0,
      total: inputs.length,
      decided: 0,
      ties: 0,
      invalid: 0,
      failed: 0,
    };
    return mapLimited(inputs, opts.concurrency ?? config.concurrency, async (input, i) => {
      if (opts.signal?.aborted) throw new AbortError("judging cancelled");
      let v: Verdict;
      try {
        const signal = input.signal ?? opts.signal;
        v = await compare(signal ? { ...input, signal } : input);
      } catch (error) {
        const fatal =
          error instanceof BudgetExceededError ||
          error instanceof AbortError ||
          (error instanceof ArrError && config.invalid_policy === "fail" && !(error instanceof RubricError));
        if (fatal) throw error;
        v = failedVerdict(input, error);
        progress.failed++;
      }
      progress.done++;
      if (v.outcome === "decided") progress.decided++;
      else if (v.outcome === "tie") progress.ties++;
      else progress.invalid++;
      opts.onVerdict?.(v, i);
      opts.onProgress?.({ ...progress });
      return v;
    });
  }

  return {
    model: vlm.model,
    templateVersion: TEMPLATE_VERSION,
    meter,
    compare,
    compareMany,
    stats: () => ({
      cacheHits: cache?.hits ?? 0,
      cacheMisses: cache?.misses ?? 0,
      cacheCorrupt: cache?.corrupt ?? 0,
      cacheWriteErrors,
      calls,
      reasks,
    }),
  };
}

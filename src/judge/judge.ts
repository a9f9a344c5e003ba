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
import type { ImageEncoding, JudgeConfig, Task } from "../config/schema.js";
import { AbortError, ArrError, BudgetExceededError, RubricError } from "../errors.js";
import { seededRng } from "../random.js";
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
import { type TokenUsage, UsageMeter } from "../vlm/usage.js";
import { type CachedOrder, cacheKey, VerdictCache } from "./cache.js";
import type { PreferencePair } from "./pairs.js";
import { parseVerdict } from "./parse.js";
import { buildJudgeMessages, buildReaskMessage, RANK_SCHEMA, TEMPLATE_VERSION } from "./prompt.js";
import { DEFAULT_REWARD_SCALE, type RewardScale, verdictRewards } from "./reward.js";

export type OrderPolicy = "single" | "swap" | "random";

export interface CompareInput {
  /** Echoed into the verdict (e.g. the pair id). */
  id?: string;
  /** The T2I prompt or the edit instruction. */
  prompt: string;
  /** The edit's source image (makes the comparison an edit). */
  sourceImage?: ImageInput;
  /** 2..N candidates; rankings and rewards are aligned with this order. */
  candidates: ImageInput[];
  /** Default: "edit" when a source image is given, else the config's task. */
  task?: Task;
  /** Overrides the configured order policy for this comparison. */
  order?: OrderPolicy;
  signal?: AbortSignal;
}

/** One presentation order's outcome. */
export interface OrderVerdict {
  /** permutation[k] = caller index of the candidate shown at position k. */
  permutation: number[];
  /** Raw text of the last reply for this order. */
  raw: string;
  /** Rank per shown position as the model gave it; null when unusable. */
  rank: number[] | null;
  /** The same rank mapped back to the caller's order; null when unusable. */
  ranking: number[] | null;
  reason: string;
  /** Parse failure of the final answer (e.g. "tie", "bad-rank"), when rank is null. */
  error?: string;
  /** Calls made for this order (1 + re-asks); from the cache when `cached`. */
  attempts: number;
  cached: boolean;
  latencyMs: number;
  usage: TokenUsage;
}

export interface Verdict {
  id?: string;
  outcome: "decided" | "tie" | "invalid";
  /** Rank per candidate in the caller's order, 1 = best; null unless decided. */
  ranking: number[] | null;
  /** Index of the best candidate; null unless decided. */
  winner: number | null;
  /** From judge/reward.ts with the tie/invalid policy applied. */
  rewards: number[];
  reason: string;
  orders: OrderVerdict[];
  /** swap: whether both orders gave the same ranking (null if either was unusable or policy is not swap). */
  agreement: boolean | null;
  orderPolicy: OrderPolicy;
  /** Wall time of the comparison. */
  latencyMs: number;
  /** Tokens spent by this comparison now (cached orders cost nothing). */
  usage: TokenUsage;
  /** Every order came from the cache. */
  cached: boolean;
  model: string;
  templateVersion: string;
  rubricHash: string | null;
  /** Set when the comparison failed outright (VLM down, unreadable image) in `compareMany`. */
  error?: string;
}

export interface CompareProgress {
  done: number;
  total: number;
  decided: number;
  ties: number;
  invalid: number;
  /** Verdicts that failed outright (also counted in `invalid`). */
  failed: number;
}

export interface CompareManyOptions {
  /** Comparisons in flight at once (default 16; the VLM client also caps requests). */
  concurrency?: number;
  onProgress?: (progress: CompareProgress) => void;
  /** Called with each verdict as it completes (stream it out so a stop loses nothing). */
  onVerdict?: (verdict: Verdict, index: number) => void;
  signal?: AbortSignal;
}

export interface JudgeStats {
  cacheHits: number;
  cacheMisses: number;
  /** Unreadable cache entries ignored (and later overwritten). */
  cacheCorrupt: number;
  /** Cache writes that failed (the verdict was still returned). */
  cacheWriteErrors: number;
  /** VLM calls made, including re-asks. */
  calls: number;
  reasks: number;
}

export interface Judge {
  readonly model: string;
  readonly templateVersion: string;
  readonly meter: UsageMeter;
  compare(input: CompareInput): Promise<Verdict>;
  /**
   * Compares many inputs with bounded concurrency, in input order. A comparison that fails outright
   * becomes an invalid verdict with `error`; a budget stop or cancellation rejects after the
   * comparisons in flight have finished (each already reported through `onVerdict`).
   */
  compareMany(inputs: readonly CompareInput[], options?: CompareManyOptions): Promise<Verdict[]>;
  stats(): JudgeStats;
}

export interface CreateJudgeOptions {
  vlm: VlmClient;
  config: JudgeConfig;
  /** How images are encoded for the VLM (`vlm.image` in the config). */
  image: ImageEncoding;
  /** Rendered rubric and its hash; null: judge without rubrics (zero-shot baseline). */
  rubric?: { text: string; hash: string } | null;
  /** Verdict cache folder (default `config.cache_dir`; null: no cache). */
  cacheDir?: string | null;
  /** Budget and usage meter (default: one built from `config.budget`). */
  meter?: UsageMeter;
  /** Rewards of the best and the worst candidate (default +1.0 / -0.1). */
  rewardScale?: RewardScale;
}

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
  prepared(): Promise<PreparedImage>;
}

async function lazyImage(
  input: ImageInput,
  encoding: ImageEncoding,
  options: PrepareOptions,
): Promise<LazyImage> {
  const bytes = await readImageBytes(input, options);
  let once: Promise<PreparedImage> | null = null;
  return {
    hash: hashBytes(bytes),
    prepared: () => {
      once ??= prepareImage(input, encoding, { ...options, bytes });
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
      candidates: shown.map((s) => s.url),
      source: source?.url,
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
    const prep = { ...(signal ? { signal } : {}) };
    // Every image is read once and encoded at most once (only on a cache miss), whatever the orders.
    const [images, source] = await Promise.all([
      Promise.all(input.candidates.map((c) => lazyImage(c, image, { ...prep, role: "candidate" }))),
      input.sourceImage != null
        ? lazyImage(input.sourceImage, image, { ...prep, role: "source" })
        : undefined,
    ]);
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
    const results = new Array<Verdict>(inputs.length);
    const progress: CompareProgress = {
      done: 0,
      total: inputs.length,
      decided: 0,
      ties: 0,
      invalid: 0,
      failed: 0,
    };
    let nextIndex = 0;
    let stop: unknown = null;
    const worker = async () => {
      while (stop == null) {
        if (opts.signal?.aborted) {
          stop = new AbortError("judging cancelled");
          break;
        }
        const i = nextIndex++;
        if (i >= inputs.length) break;
        const input = inputs[i] as CompareInput;
        let v: Verdict;
        try {
          const signal = input.signal ?? opts.signal;
          v = await compare(signal ? { ...input, signal } : input);
        } catch (error) {
          const fatal =
            error instanceof BudgetExceededError ||
            error instanceof AbortError ||
            (error instanceof ArrError &&
              config.invalid_policy === "fail" &&
              !(error instanceof RubricError));
          if (fatal) {
            stop ??= error;
            break;
          }
          v = failedVerdict(input, error);
          progress.failed++;
        }
        results[i] = v;
        progress.done++;
        if (v.outcome === "decided") progress.decided++;
        else if (v.outcome === "tie") progress.ties++;
        else progress.invalid++;
        opts.onVerdict?.(v, i);
        opts.onProgress?.({ ...progress });
      }
    };
    const width = Math.max(1, Math.min(opts.concurrency ?? 16, inputs.length));
    await Promise.all(Array.from({ length: width }, worker));
    if (stop != null) throw stop;
    return results;
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

/** Run-level counts over verdicts: what the CLI summary and eval reports show. */
export interface VerdictSummary {
  total: number;
  decided: number;
  ties: number;
  /** Includes `failed`. */
  invalid: number;
  failed: number;
  /** swap: verdicts where both orders were usable, and how many of those agreed. */
  orderPairs: number;
  agreed: number;
  /** agreed / orderPairs, null when no swap verdicts. */
  agreementRate: number | null;
  orders: number;
  cachedOrders: number;
  tokens: TokenUsage & { total: number };
}

export function summarizeVerdicts(verdicts: readonly Verdict[]): VerdictSummary {
  const s: VerdictSummary = {
    total: verdicts.length,
    decided: 0,
    ties: 0,
    invalid: 0,
    failed: 0,
    orderPairs: 0,
    agreed: 0,
    agreementRate: null,
    orders: 0,
    cachedOrders: 0,
    tokens: { promptTokens: 0, completionTokens: 0, total: 0 },
  };
  for (const v of verdicts) {
    if (v.outcome === "decided") s.decided++;
    else if (v.outcome === "tie") s.ties++;
    else s.invalid++;
    if (v.error) s.failed++;
    if (v.agreement != null) {
      s.orderPairs++;
      if (v.agreement) s.agreed++;
    }
    s.orders += v.orders.length;
    s.cachedOrders += v.orders.filter((o) => o.cached).length;
    s.tokens.promptTokens += v.usage.promptTokens;
    s.tokens.completionTokens += v.usage.completionTokens;
  }
  s.tokens.total = s.tokens.promptTokens + s.tokens.completionTokens;
  s.agreementRate = s.orderPairs > 0 ? s.agreed / s.orderPairs : null;
  return s;
}

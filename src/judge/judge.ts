/**
 * The rubric-conditioned judge: compares a prompt (and an edit's source images) with 2..N candidates
 * and returns a verdict with rewards. It composes three parts: the order policy (orders.ts: which
 * presentation orders to ask, how their answers combine), asking one order (ask.ts: request, parse,
 * bounded re-ask, per-order cache), and the reward mapping (reward.ts).
 * Bad model output is not an exception: it is re-asked, then recorded as invalid and counted.
 */
import type { PreferencePair } from "../data/pairs.js";
import { AbortError, ArrError, BudgetExceededError, RubricError } from "../errors.js";
import { mapLimited } from "../util/map-limited.js";
import { BufferPool } from "../vlm/buffer-pool.js";
import { UsageMeter } from "../vlm/usage.js";
import { createOrderAsker, lazyImage, type Question, ZERO_USAGE } from "./ask.js";
import { VerdictCache } from "./cache.js";
import { combineOrders, policyPermutations } from "./orders.js";
import { TEMPLATE_VERSION } from "./prompt.js";
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
  if (pair.sourceImages?.length) input.sourceImages = pair.sourceImages;
  return input;
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
  const scale = options.rewardScale ?? DEFAULT_REWARD_SCALE;
  const asker = createOrderAsker({ vlm, config, image, rubric, cache, meter });
  const pool = new BufferPool();

  async function compare(input: CompareInput): Promise<Verdict> {
    const started = performance.now();
    const n = input.candidates.length;
    if (n < 2)
      throw new ArrError(`a comparison needs at least 2 candidates, got ${n}`, { hint: "pass 2..N images" });
    const signal = input.signal;
    if (signal?.aborted) throw new AbortError("comparison cancelled");
    const prep = { pool, ...(signal ? { signal } : {}) };
    // Every image is read once and encoded at most once (only on a cache miss), whatever the orders.
    const sourceInputs = input.sourceImages?.length
      ? input.sourceImages
      : input.sourceImage != null
        ? [input.sourceImage]
        : [];
    const [images, sources] = await Promise.all([
      Promise.all(input.candidates.map((c) => lazyImage(c, image, { ...prep, role: "candidate" }))),
      Promise.all(sourceInputs.map((s) => lazyImage(s, image, { ...prep, role: "source" }))),
    ]);
    const task = input.task ?? (sourceInputs.length > 0 ? "edit" : config.task);
    try {
      return await decide(input, { task, prompt: input.prompt, images, sources }, started);
    } finally {
      // Every request that used these bytes has finished: allSettled in decide() waits for both orders.
      for (const img of [...images, ...sources]) pool.release(img.bytes);
    }
  }

  async function decide(input: CompareInput, q: Question, started: number): Promise<Verdict> {
    const n = q.images.length;
    const policy = input.order ?? config.order;
    const perms = policyPermutations(policy, n, {
      seed: config.seed,
      itemKey: `${q.prompt}\u0000${q.sources.map((s) => s.hash).join(",")}\u0000${q.images.map((i) => i.hash).join(",")}`,
    });
    // allSettled: when one order hits the budget, the other's call (already paid) still finishes
    // and lands in the cache before the error propagates, so nothing is left running or lost.
    const settled = await Promise.allSettled(perms.map((p) => asker.ask(q, p, input.signal)));
    const rejected = settled.find((r) => r.status === "rejected");
    if (rejected) throw (rejected as PromiseRejectedResult).reason;
    const orders = settled.map((r) => (r as PromiseFulfilledResult<OrderVerdict>).value);
    const { outcome, ranking, agreement, reason } = combineOrders(orders);
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
      rewards: verdictRewards(outcome, ranking, n, {
        tie: config.tie_policy,
        scale,
        reversed: options.reverseVerdicts === true,
      }),
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
      ...asker.counts,
    }),
  };
}

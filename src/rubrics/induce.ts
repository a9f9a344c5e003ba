import type { ImageEncoding, InductionConfig, JudgeConfig } from "../config/schema.js";
import type { PreferencePair } from "../data/pairs.js";
import { AbortError, ArrError, DatasetError, RubricError, VlmError } from "../errors.js";
import { createJudge } from "../judge/judge.js";
import { sameRanking } from "../judge/orders.js";
import { TEMPLATE_VERSION as JUDGE_TEMPLATE_VERSION } from "../judge/prompt.js";
import { mapLimited } from "../util/map-limited.js";
import type { VlmClient, VlmRequest } from "../vlm/client.js";
import { prepareImage } from "../vlm/images.js";
import { type AskContext, ask, type CallCache, type Tally } from "./call-cache.js";
import { generationRequest, type PairImages, type RefinementFeedback, refinementRequest } from "./prompts.js";
import { criteriaRubric, type InductionStats, type PairFate } from "./rubric.js";
import { criteriaParser, dedupe, finish, startRun, structure } from "./run.js";
import type {
  InduceOptions,
  InductionProgress,
  InductionResult,
  Verifier,
  VerifierFactory,
} from "./types.js";

export type { InduceOptions, InductionProgress, InductionResult, Verifier, VerifierFactory };

/** A client that counts the requests it sends, keeping the wrapped client's meter and params. */
function countingClient(vlm: VlmClient, counter: { sent: number }): VlmClient {
  return {
    model: vlm.model,
    ...(vlm.meter ? { meter: vlm.meter } : {}),
    ...(vlm.params ? { params: vlm.params } : {}),
    complete(req: VlmRequest) {
      counter.sent++;
      return vlm.complete(req);
    },
  };
}

/** A label must be a strict ranking: ties can never be reproduced by a judge that may not tie. */
function checkPairs(pairs: PreferencePair[], task: InductionConfig["task"]): void {
  for (const p of pairs) {
    const rank = p.labelRank;
    const n = p.images.length;
    const where = `seed pair ${p.id}`;
    if (!rank) {
      throw new DatasetError(`${where}: no label_rank`, {
        field: "label_rank",
        hint: "every seed pair needs label_rank, e.g. [1, 2] when the first image is preferred",
      });
    }
    const sorted = [...rank].sort((a, b) => a - b);
    if (rank.length !== n || !sorted.every((v, i) => v === i + 1)) {
      throw new DatasetError(
        `${where}: label_rank ${JSON.stringify(rank)} is not a ranking of its ${n} images`,
        {
          field: "label_rank",
          hint: `use a permutation of 1..${n} (1 = best); tied labels cannot be verified`,
        },
      );
    }
    if (p.task !== task) {
      throw new DatasetError(`${where} is a ${p.task} pair but induction.task is ${task}`, {
        field: "task",
        hint: `set induction.task: ${p.task} (and judge.task) or use ${task} seed pairs`,
      });
    }
  }
}

/** Default verifier: the real judge, conditioned only on the candidate criteria. */
function defaultVerifierFactory(judge: JudgeConfig, image: ImageEncoding): VerifierFactory {
  return (rubric, vlm) => {
    // Pass the client's own meter so the judge does not charge a second one.
    return createJudge({ vlm, config: judge, image, rubric, ...(vlm.meter ? { meter: vlm.meter } : {}) });
  };
}

interface PairOutcome {
  fate: PairFate;
  criteria: string[];
}

async function inducePair(
  pair: PreferencePair,
  options: InduceOptions,
  shared: { cache: CallCache; tally: Tally; verifier: VerifierFactory; signal: AbortSignal },
): Promise<PairOutcome> {
  const cfg = options.config;
  const counter = { sent: 0 };
  const ctx: AskContext = {
    vlm: options.vlm,
    cache: shared.cache,
    tally: shared.tally,
    maxRetries: cfg.max_retries,
    signal: shared.signal,
    counter,
  };
  // The verifying judge sends through a counting wrapper: what it sends now is what this run pays.
  const judgeCounter = { sent: 0 };
  let verifyCalls = 0;
  const judgeVlm = countingClient(options.vlm, judgeCounter);
  const labelRank = pair.labelRank as number[];
  const [candidates, sources] = await Promise.all([
    Promise.all(
      pair.images.map(async (img) => (await prepareImage(img, options.image, { signal: shared.signal })).url),
    ),
    Promise.all(
      (pair.sourceImages ?? []).map(
        async (img) =>
          (await prepareImage(img, options.image, { role: "source", signal: shared.signal })).url,
      ),
    ),
  ]);
  const images: PairImages = sources.length > 0 ? { sources, candidates } : { candidates };
  const base = {
    task: cfg.task,
    language: cfg.language,
    count: cfg.criteria_per_pair,
    prompt: pair.prompt,
    images,
    labelRank,
    taskDescription: cfg.task_description,
    editTags: typeof pair.meta?.task_type === "string" ? pair.meta.task_type : null,
  };
  const fate = (
    f: PairFate["fate"],
    round: number | null,
    reason: string | null,
    criteria: string[],
  ): PairOutcome => ({
    fate: { id: pair.id, fate: f, round, reason, criteria, calls: counter.sent + verifyCalls },
    criteria,
  });

  try {
    const generated = await ask(
      ctx,
      "generate",
      generationRequest(base),
      criteriaParser(cfg.criteria_per_pair),
    );
    if (!generated.ok) {
      return fate(
        "dropped",
        null,
        `generation: no valid criteria after ${cfg.max_retries + 1} attempts (${generated.reason})`,
        [],
      );
    }
    let criteria = generated.value;
    // max_epochs verification rounds; a refinement only happens when another round can verify it,
    // so calls <= 1 + max_epochs x (verify + refine).
    for (let round = 0; round < cfg.max_epochs; round++) {
      const sentBefore = judgeCounter.sent;
      const verdict = await shared.verifier(criteriaRubric(criteria), judgeVlm).compare({
        prompt: pair.prompt,
        ...(pair.sourceImages?.length ? { sourceImages: pair.sourceImages } : {}),
        candidates: pair.images,
        signal: shared.signal,
      });
      shared.tally.verdict(verdict, judgeCounter.sent - sentBefore);
      verifyCalls += verdict.orders.reduce((n, o) => n + o.attempts, 0);
      if (verdict.outcome === "decided" && sameRanking(verdict.ranking, labelRank)) {
        return fate("passed", round, null, criteria);
      }
      if (round === cfg.max_epochs - 1) {
        return fate(
          "dropped",
          null,
          `never matched the human ranking in ${cfg.max_epochs} verification rounds`,
          criteria,
        );
      }
      const feedback: RefinementFeedback = {
        judgeRanking: verdict.outcome === "decided" ? verdict.ranking : null,
        outcome: verdict.outcome,
        judgeReason: verdict.reason,
      };
      const refined = await ask(
        ctx,
        "refine",
        refinementRequest({ ...base, previous: criteria, feedback }),
        criteriaParser(cfg.criteria_per_pair),
      );
      if (!refined.ok) {
        return fate(
          "dropped",
          null,
          `refinement ${round + 1}: no valid criteria (${refined.reason})`,
          criteria,
        );
      }
      criteria = refined.value;
    }
    return fate("dropped", null, "max_epochs is 0: nothing can be verified", criteria);
  } catch (error) {
    // A VLM outage loses this pair for this run only: nothing failed is cached, so a rerun retries it.
    if (error instanceof VlmError) return fate("failed", null, error.message, []);
    throw error;
  }
}

/**
 * Induces a rubric from labelled seed pairs: generate → verify blind → refine → structure.
 * Throws `RubricError` when no criteria set passes (never returns an empty rubric).
 */
export async function induceRubrics(options: InduceOptions): Promise<InductionResult> {
  const cfg = options.config;
  if (options.pairs.length === 0) {
    throw new RubricError("no seed pairs to induce rubrics from", {
      hint: "pass a seed file with labelled pairs, or use --zero-shot with induction.task_description",
    });
  }
  if (cfg.max_epochs < 1) {
    throw new RubricError("induction.max_epochs is 0: no criteria set could ever be verified", {
      hint: "set induction.max_epochs to at least 1 (the paper's default is 5)",
    });
  }
  checkPairs(options.pairs, cfg.task);
  const { stop, ctx } = startRun(options);
  const { cache, tally } = ctx;
  let verifier = options.verifier;
  if (!verifier) {
    if (!options.judge) {
      throw new ArrError("induceRubrics needs `judge` (judge config) or a `verifier`", {
        hint: "pass the judge section of the config",
      });
    }
    verifier = defaultVerifierFactory(
      { ...options.judge, task: cfg.task, language: cfg.language },
      options.image,
    );
  }
  const shared = { cache, tally, verifier, signal: stop.signal };

  const counts = { done: 0, passed: 0, dropped: 0, failed: 0 };
  const total = options.pairs.length;
  options.onProgress?.({ stage: "pairs", total, ...counts });
  const outcomes = await mapLimited(options.pairs, cfg.concurrency, async (pair) => {
    if (stop.signal.aborted) throw new AbortError("rubric induction cancelled");
    let outcome: PairOutcome;
    try {
      outcome = await inducePair(pair, options, shared);
    } catch (error) {
      // Pairs in flight share `stop`: a fatal error (budget, bad config) ends their calls too.
      stop.abort();
      throw error;
    }
    counts.done++;
    if (outcome.fate.fate === "passed") counts.passed++;
    else if (outcome.fate.fate === "dropped") counts.dropped++;
    else counts.failed++;
    options.onProgress?.({ stage: "pairs", total, ...counts, pair: outcome.fate });
    return outcome;
  });
  // Pairs that all started before an outside cancellation may still finish: the run is cancelled.
  if (stop.signal.aborted) throw new AbortError("rubric induction cancelled");

  const fates = outcomes.map((o) => o.fate);
  const stats: InductionStats = {
    pairs: total,
    passed_first_time: fates.filter((f) => f.fate === "passed" && f.round === 0).length,
    passed_after_refinement: fates.filter((f) => f.fate === "passed" && (f.round ?? 0) > 0).length,
    dropped: counts.dropped,
    failed: counts.failed,
  };
  // Pair order, not completion order: the categorization call (and its cache key) is stable.
  const verified = dedupe(outcomes.filter((o) => o.fate.fate === "passed").flatMap((o) => o.criteria));
  if (verified.length === 0) {
    const reasons = [...new Set(fates.map((f) => f.reason).filter((r): r is string => !!r))].slice(0, 3);
    throw new RubricError(
      `no criteria passed blind verification: ${total} pairs, ${stats.dropped} dropped, ${stats.failed} failed${reasons.length ? ` (${reasons.join("; ")})` : ""}`,
      {
        hint:
          stats.failed > 0
            ? "calls failed: check the VLM server, then rerun (paid calls are cached)"
            : "try more seed pairs, a larger induction.max_epochs, a stronger model, or --zero-shot",
      },
    );
  }

  options.onProgress?.({ stage: "structure", total, ...counts });
  const { themes, categorization } = await structure(verified, options, ctx);
  const judgeTemplate = options.verifier ? null : JUDGE_TEMPLATE_VERSION;
  const result = finish(
    options,
    "seeded",
    verified,
    themes,
    {
      pairs: fates,
      stats,
      seeds: { file: options.seeds?.file ?? null, sha256: options.seeds?.sha256 ?? null, pairs: total },
      categorization,
      judge_model: options.vlm.model,
      judgeTemplate,
    },
    tally,
  );
  options.onProgress?.({ stage: "done", total, ...counts });
  return result;
}

/**
 * Preference evaluation: how often a judge agrees with human labels, in each presentation order.
 *
 * Every item is judged once per requested order with the judge's order policy forced to `single`
 * on explicitly permuted candidates (forward = as given, reverse = reversed), so position bias is
 * measured rather than averaged away inside the judge. The headline accuracy is the mean over the
 * orders, as in the paper's Table 2 ("Avg" equals the Table 1 figure). Ties, invalid replies and
 * failed calls count as wrong and stay in the denominator.
 *
 * Items built from pairwise human labels (EditReward-Bench: `comparisons`) are read both ways the
 * benchmark is: per comparison (each label scored on its own, a tie is its own outcome, as the
 * benchmark's scripts score) and per group (every comparison of the item right). A group whose
 * labels admit no order (no `labelRank`) enters the per-comparison figure only, and is counted.
 */
import { JUDGE_DEFAULTS } from "../config/schema.js";
import type { PairwiseLabel } from "../data/pairs.js";
import { AbortError, ArrError, DatasetError, ImageError, VlmError } from "../errors.js";
import {
  identityPermutation,
  isPermutation,
  reversedPermutation,
  sameRanking,
  toCallerOrder,
} from "../judge/orders.js";
import { mapLimited } from "../util/map-limited.js";
import { callCost } from "../vlm/usage.js";
import { type BootstrapOptions, bootstrapInterval, type Interval, meanAt } from "./stats.js";
import type {
  AccuracySummary,
  EvalPair,
  EvalUsage,
  EvaluateOptions,
  EvaluationResult,
  EvalVerdict,
  ItemResult,
  OrderOutcome,
  OrderSummary,
  PairwiseSummary,
  PresentationOrder,
  SkippedItem,
} from "./types.js";

export type * from "./types.js";

export const ALL_ORDERS: readonly PresentationOrder[] = ["forward", "reverse"];

/** Candidate permutation of an order: element j is the original index shown in position j. */
export function orderPermutation(order: PresentationOrder, n: number): number[] {
  return order === "forward" ? identityPermutation(n) : reversedPermutation(n);
}

type LabelCheck = { ok: true; label: number[] | null } | { ok: false; excluded: boolean; reason: string };

/**
 * A label must be a strict ranking (a permutation of 1..N) aligned with the images; items with
 * pairwise labels are scored on those, so their order may hold ties or be missing (inconsistent).
 */
export function checkLabel(pair: EvalPair): LabelCheck {
  if (pair.comparisons && pair.comparisons.length > 0) {
    const n = pair.images.length;
    const bad = pair.comparisons.find(
      (c) => c.a === c.b || [c.a, c.b].some((i) => !Number.isInteger(i) || i < 0 || i >= n),
    );
    if (bad)
      return {
        ok: false,
        excluded: false,
        reason: `comparison ${JSON.stringify(bad)} names no two of the ${n} candidates`,
      };
    return { ok: true, label: pair.labelRank ?? null };
  }
  const label = pair.labelRank;
  if (!label || label.length === 0) return { ok: false, excluded: false, reason: "missing human label" };
  if (label.length !== pair.images.length) {
    return {
      ok: false,
      excluded: false,
      reason: `has ${label.length} ranks for ${pair.images.length} images`,
    };
  }
  if (label.some((r) => !Number.isInteger(r) || r < 1 || r > label.length)) {
    return {
      ok: false,
      excluded: false,
      reason: `ranks must be integers 1..${label.length}, got [${label}]`,
    };
  }
  if (new Set(label).size !== label.length) {
    return { ok: false, excluded: true, reason: `human label is a tie [${label}]` };
  }
  return { ok: true, label };
}

/**
 * The relation a verdict predicts between two candidates: from a decided ranking, or "=" when the
 * verdict is a tie (a judge's tie matches a tie label); null when there is no usable verdict.
 */
function predictedRelation(
  outcome: OrderOutcome["outcome"],
  rank: readonly number[] | null,
  c: PairwiseLabel,
) {
  if (outcome === "tie") return "=";
  if (!rank) return null;
  const [a, b] = [rank[c.a] as number, rank[c.b] as number];
  return a < b ? ">" : a > b ? "<" : "=";
}

/** Maps a verdict on permuted candidates back to the dataset's candidate order and scores it. */
export function scoreVerdict(
  verdict: Pick<EvalVerdict, "outcome" | "ranking">,
  permutation: readonly number[],
  label: readonly number[] | null,
  comparisons?: readonly PairwiseLabel[],
): Pick<OrderOutcome, "outcome" | "predictedRank" | "correct" | "comparisonsCorrect"> {
  let outcome: OrderOutcome["outcome"] = verdict.outcome;
  let predicted: number[] | null = null;
  if (verdict.outcome === "decided" && verdict.ranking) {
    if (isPermutation(verdict.ranking, permutation.length))
      predicted = toCallerOrder(verdict.ranking, permutation);
    else outcome = "invalid";
  } else if (verdict.outcome === "decided") outcome = "invalid";
  if (comparisons && comparisons.length > 0) {
    const right = comparisons.filter((c) => predictedRelation(outcome, predicted, c) === c.relation).length;
    // Per group: every comparison right; a group without an order (inconsistent) is never "right".
    return {
      outcome,
      predictedRank: predicted,
      correct: label !== null && right === comparisons.length,
      comparisonsCorrect: right,
    };
  }
  const correct = predicted !== null && label !== null && sameRanking(predicted, label);
  return { outcome, predictedRank: predicted, correct };
}

function emptyInterval(level: number): Interval {
  return { low: Number.NaN, high: Number.NaN, level };
}

/** Both readings of pairwise-labelled items; undefined when no item has pairwise labels. */
export function summarizePairwise(items: readonly ItemResult[]): PairwiseSummary | undefined {
  const labelled = items.filter((it) => it.comparisons && it.comparisons.length > 0);
  if (labelled.length === 0) return undefined;
  let comparisons = 0;
  let comparisonsCorrect = 0;
  let groups = 0;
  let groupsCorrect = 0;
  for (const it of labelled) {
    for (const o of it.orders) {
      comparisons += it.comparisons?.length ?? 0;
      comparisonsCorrect += o.comparisonsCorrect ?? 0;
      if (it.labelRank === null) continue;
      groups++;
      if (o.correct) groupsCorrect++;
    }
  }
  return {
    comparisons,
    comparisonsCorrect,
    comparisonAccuracy: comparisons === 0 ? Number.NaN : comparisonsCorrect / comparisons,
    groups: labelled.filter((it) => it.labelRank !== null).length,
    groupsCorrect,
    groupAccuracy: groups === 0 ? Number.NaN : groupsCorrect / groups,
    inconsistentGroups: labelled.filter((it) => it.labelRank === null).length,
  };
}

/**
 * Accuracy, intervals and rates over a set of item results. Pure. Items without an order (an
 * inconsistent pairwise group) are left out of these per-item figures and counted in `pairwise`.
 */
export function summarize(
  all: readonly ItemResult[],
  orders: readonly PresentationOrder[],
  bootstrap: BootstrapOptions = {},
): AccuracySummary {
  const items = all.filter((it) => it.labelRank !== null);
  const pairwise = summarizePairwise(all);
  const level = bootstrap.level ?? 0.95;
  const n = items.length;
  const scores = Float64Array.from(items, (it) => it.score);
  const perOrder = orders.map((order, k) => {
    const correct = Float64Array.from(items, (it) => (it.orders[k]?.correct ? 1 : 0));
    let ties = 0;
    let invalid = 0;
    for (const it of items) {
      const o = it.orders[k]?.outcome;
      if (o === "tie") ties++;
      else if (o === "invalid" || o === "error") invalid++;
    }
    const sum = correct.reduce((a, b) => a + b, 0);
    return { order, correct, sum, ties, invalid };
  });
  const byOrder: OrderSummary[] = perOrder.map((p) => ({
    order: p.order,
    accuracy: n === 0 ? Number.NaN : p.sum / n,
    ci: n === 0 ? emptyInterval(level) : bootstrapInterval(n, (idx) => meanAt(p.correct, idx), bootstrap),
    correct: p.sum,
    ties: p.ties,
    invalid: p.invalid,
  }));
  const fwd = perOrder.find((p) => p.order === "forward");
  const rev = perOrder.find((p) => p.order === "reverse");
  let gap: number | null = null;
  let gapCi: Interval | null = null;
  let flipRate: number | null = null;
  if (fwd && rev) {
    gap = n === 0 ? Number.NaN : (fwd.sum - rev.sum) / n;
    const diff = fwd.correct.map((c, i) => c - (rev.correct[i] as number));
    gapCi = n === 0 ? emptyInterval(level) : bootstrapInterval(n, (idx) => meanAt(diff, idx), bootstrap);
    flipRate = n === 0 ? Number.NaN : items.filter((it) => it.orderFlip).length / n;
  }
  const judgements = n * orders.length;
  const ties = perOrder.reduce((a, p) => a + p.ties, 0);
  const invalid = perOrder.reduce((a, p) => a + p.invalid, 0);
  return {
    items: n,
    // Correct judgements over all judgements: the mean of the per-order accuracies, in one division.
    accuracy: judgements === 0 ? Number.NaN : perOrder.reduce((a, p) => a + p.sum, 0) / judgements,
    ci: n === 0 ? emptyInterval(level) : bootstrapInterval(n, (idx) => meanAt(scores, idx), bootstrap),
    byOrder,
    gap,
    gapCi,
    tieRate: judgements === 0 ? Number.NaN : ties / judgements,
    invalidRate: judgements === 0 ? Number.NaN : invalid / judgements,
    flipRate,
    ...(pairwise ? { pairwise } : {}),
  };
}

function winnerOf(rank: readonly number[] | null): number | null {
  if (!rank) return null;
  const i = rank.indexOf(1);
  return i < 0 ? null : i;
}

function finishItem(item: Omit<ItemResult, "score" | "disagreement" | "orderFlip">): ItemResult {
  const correct = item.orders.filter((o) => o.correct).length;
  const decided = item.orders.filter((o) => o.outcome === "decided");
  const winners = new Set(decided.map((o) => winnerOf(o.predictedRank)));
  return {
    ...item,
    score: item.orders.length === 0 ? 0 : correct / item.orders.length,
    disagreement: correct < item.orders.length,
    orderFlip: decided.length >= 2 && winners.size > 1,
  };
}

function isFatal(error: unknown): boolean {
  if (error instanceof AbortError) return true;
  if (error instanceof ArrError && !(error instanceof VlmError) && !(error instanceof ImageError))
    return true;
  return !(error instanceof ArrError);
}

/** Runs the judge over every item and order and summarises agreement with the human labels. */
export async function evaluate(options: EvaluateOptions): Promise<EvaluationResult> {
  const startedAt = new Date().toISOString();
  const orders = [...(options.orders ?? ALL_ORDERS)];
  if (orders.length === 0) throw new DatasetError("evaluate: no presentation order requested");
  const variant = options.variant ?? "judge";
  const where = options.datasetFile ?? "dataset";
  const skipped: SkippedItem[] = [];
  const excluded: SkippedItem[] = [];

  // 1. validate labels up front: a bad item fails before any money is spent.
  const seen = new Set<string>();
  const valid: { pair: EvalPair; label: number[] | null }[] = [];
  for (const pair of options.pairs) {
    if (seen.has(pair.id)) {
      throw new DatasetError(`${where}: duplicate item id "${pair.id}"`, {
        file: options.datasetFile,
        field: "id",
        hint: "give every item a unique id",
      });
    }
    seen.add(pair.id);
    const check = checkLabel(pair);
    if (check.ok) {
      valid.push({ pair, label: check.label });
      continue;
    }
    const bad = { id: pair.id, field: "label_rank", reason: check.reason };
    if (check.excluded) excluded.push(bad);
    else if (options.skipBad) skipped.push(bad);
    else {
      throw new DatasetError(`${where}: item "${pair.id}" field label_rank: ${check.reason}`, {
        file: options.datasetFile,
        field: "label_rank",
        hint: "fix the label, or pass --skip-bad to count such items as skipped",
      });
    }
  }

  // 2. judge every (item, order) with bounded concurrency.
  const tasks = valid.flatMap((_v, itemIndex) =>
    orders.map((order, orderIndex) => ({ itemIndex, orderIndex, order })),
  );
  const outcomes: (OrderOutcome | undefined)[][] = valid.map(() => new Array(orders.length));
  const badImages = new Map<number, SkippedItem>();
  let done = 0;
  let correctSoFar = 0;
  let model: string | null = null;
  let rubricHash: string | null = null;
  const usage: EvalUsage = {
    calls: 0,
    cacheHits: 0,
    promptTokens: 0,
    completionTokens: 0,
    totalTokens: 0,
    cost: 0,
  };

  const runOne = async (task: (typeof tasks)[number]): Promise<void> => {
    const { pair, label } = valid[task.itemIndex] as { pair: EvalPair; label: number[] | null };
    if (badImages.has(task.itemIndex)) return;
    const permutation = orderPermutation(task.order, pair.images.length);
    let outcome: OrderOutcome;
    try {
      const verdict = await options.judge.compare({
        id: `${pair.id}:${task.order}`,
        task: pair.task,
        prompt: pair.prompt,
        ...(pair.sourceImages?.length ? { sourceImages: pair.sourceImages } : {}),
        candidates: permutation.map((i) => pair.images[i] as string),
        order: "single",
        ...(options.signal ? { signal: options.signal } : {}),
      });
      const scored = scoreVerdict(verdict, permutation, label, pair.comparisons);
      const { promptTokens, completionTokens } = verdict.usage;
      if (verdict.cached) usage.cacheHits++;
      else {
        usage.calls++;
        usage.promptTokens += promptTokens;
        usage.completionTokens += completionTokens;
        usage.cost += callCost({ promptTokens, completionTokens }, options.price);
      }
      model ??= verdict.model;
      rubricHash ??= verdict.rubricHash;
      const first = verdict.orders[0];
      outcome = {
        order: task.order,
        permutation,
        ...scored,
        reason: verdict.reason,
        raw: first?.raw ?? null,
        error: first?.error ?? null,
        cached: verdict.cached,
        promptTokens,
        completionTokens,
        latencyMs: verdict.latencyMs,
      };
    } catch (error) {
      if (isFatal(error)) throw error;
      if (error instanceof ImageError) {
        const bad = { id: pair.id, field: "images", reason: error.message };
        if (!options.skipBad) {
          throw new DatasetError(`${where}: item "${pair.id}" field images: ${error.message}`, {
            file: options.datasetFile,
            field: "images",
            hint: "fix or remove the image, or pass --skip-bad to count such items as skipped",
            cause: error,
          });
        }
        badImages.set(task.itemIndex, bad);
        return;
      }
      // A call that failed after every retry is a wrong answer, never a dropped item.
      outcome = {
        order: task.order,
        permutation,
        outcome: "error",
        predictedRank: null,
        correct: false,
        reason: "",
        raw: null,
        error: error instanceof Error ? error.message : String(error),
        cached: false,
        promptTokens: 0,
        completionTokens: 0,
        latencyMs: 0,
      };
    }
    (outcomes[task.itemIndex] as (OrderOutcome | undefined)[])[task.orderIndex] = outcome;
    done++;
    if (outcome.correct) correctSoFar++;
    await options.onJudgement?.({ ...outcome, itemId: pair.id, variant });
    options.onProgress?.({ done, total: tasks.length, accuracy: correctSoFar / done });
  };

  await mapLimited(tasks, options.concurrency ?? JUDGE_DEFAULTS.concurrency, async (task) => {
    if (options.signal?.aborted) throw new AbortError("evaluation aborted");
    await runOne(task);
  });

  // 3. assemble per-item results and summaries.
  const items: ItemResult[] = [];
  valid.forEach(({ pair, label }, i) => {
    const bad = badImages.get(i);
    if (bad) {
      skipped.push(bad);
      return;
    }
    items.push(
      finishItem({
        id: pair.id,
        task: pair.task,
        prompt: pair.prompt,
        ...(pair.sourceImages?.length ? { sourceImages: pair.sourceImages } : {}),
        images: pair.images,
        labelRank: label,
        ...(pair.comparisons ? { comparisons: pair.comparisons } : {}),
        ...(pair.category ? { category: pair.category } : {}),
        ...(pair.meta ? { meta: pair.meta } : {}),
        orders: outcomes[i] as OrderOutcome[],
      }),
    );
  });
  usage.totalTokens = usage.promptTokens + usage.completionTokens;

  const categories: Record<string, AccuracySummary> = {};
  const names = [...new Set(items.map((it) => it.category).filter((c): c is string => !!c))].sort();
  for (const name of names) {
    categories[name] = summarize(
      items.filter((it) => it.category === name),
      orders,
      options.bootstrap,
    );
  }

  return {
    variant,
    orders,
    summary: summarize(items, orders, options.bootstrap),
    categories,
    items,
    skipped,
    excluded,
    usage,
    rubricHash,
    model,
    startedAt,
    finishedAt: new Date().toISOString(),
  };
}

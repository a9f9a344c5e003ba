/**
 * Judge variants on the same items (direct vs +ARR, two rubric files, criteria-per-pair sweeps), in
 * the layout of the paper's position-bias table: one row per variant with forward, reverse, their
 * mean and gap, each row's difference from the first row, and a paired significance test.
 */
import { type EvaluateOptions, type EvaluationResult, evaluate, type ItemResult } from "./evaluate.js";
import {
  type Interval,
  type McNemarResult,
  mcnemarFromOutcomes,
  pairedBootstrapDifference,
} from "./stats.js";
import type { EvalJudge } from "./types.js";

export interface CompareVariant {
  /** Row label, e.g. "direct", "+ARR", "k=10". */
  name: string;
  judge: EvalJudge;
}

export interface CompareOptions extends Omit<EvaluateOptions, "judge" | "variant"> {
  /** Two or more variants; the first is the baseline every other row is compared with. */
  variants: readonly CompareVariant[];
  /** Significance level of the test (default 0.05). */
  alpha?: number;
  /** Called when a variant starts, for progress display. */
  onVariant?: (name: string, index: number) => void;
}

/** Differences of a row from the baseline row, in accuracy points (fractions). */
export interface RowDelta {
  accuracy: number;
  forward: number | null;
  reverse: number | null;
  gap: number | null;
}

export interface PairedTest {
  /**
   * Exact McNemar over judgements (item x order) both variants made: discordant counts and the
   * two-sided p-value. The two orders of one item are treated as separate units.
   */
  mcnemar: McNemarResult;
  /** Paired bootstrap (items resampled) interval of the accuracy difference, row minus baseline. */
  difference: Interval;
  /** mcnemar.pValue < alpha. */
  significant: boolean;
  /** Items both variants evaluated. */
  items: number;
}

export interface ComparisonRow {
  name: string;
  result: EvaluationResult;
  /** null for the baseline row. */
  delta: RowDelta | null;
  test: PairedTest | null;
}

export interface ComparisonResult {
  rows: ComparisonRow[];
  alpha: number;
}

function orderAccuracy(result: EvaluationResult, order: "forward" | "reverse"): number | null {
  return result.summary.byOrder.find((o) => o.order === order)?.accuracy ?? null;
}

function diff(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : a - b;
}

/** Paired statistics of `row` against `base` on the items both evaluated. Pure. */
export function pairedTest(
  base: EvaluationResult,
  row: EvaluationResult,
  options: { alpha?: number; seed?: number; resamples?: number } = {},
): PairedTest {
  const byId = new Map<string, ItemResult>(row.items.map((it) => [it.id, it]));
  const baseScores: number[] = [];
  const rowScores: number[] = [];
  const baseCorrect: boolean[] = [];
  const rowCorrect: boolean[] = [];
  for (const a of base.items) {
    const b = byId.get(a.id);
    if (!b) continue;
    baseScores.push(a.score);
    rowScores.push(b.score);
    for (const oa of a.orders) {
      const ob = b.orders.find((o) => o.order === oa.order);
      if (!ob) continue;
      baseCorrect.push(oa.correct);
      rowCorrect.push(ob.correct);
    }
  }
  const mcnemar = mcnemarFromOutcomes(baseCorrect, rowCorrect);
  const difference = pairedBootstrapDifference(baseScores, rowScores, {
    seed: options.seed ?? 0,
    resamples: options.resamples ?? 1000,
  });
  return {
    mcnemar,
    difference,
    significant: mcnemar.pValue < (options.alpha ?? 0.05),
    items: baseScores.length,
  };
}

/** Builds the comparison rows from finished evaluations (first = baseline). Pure. */
export function compareResults(
  results: readonly { name: string; result: EvaluationResult }[],
  options: { alpha?: number; seed?: number; resamples?: number } = {},
): ComparisonResult {
  const alpha = options.alpha ?? 0.05;
  const base = results[0];
  const rows = results.map(({ name, result }, i): ComparisonRow => {
    if (i === 0 || !base) return { name, result, delta: null, test: null };
    return {
      name,
      result,
      delta: {
        accuracy: result.summary.accuracy - base.result.summary.accuracy,
        forward: diff(orderAccuracy(result, "forward"), orderAccuracy(base.result, "forward")),
        reverse: diff(orderAccuracy(result, "reverse"), orderAccuracy(base.result, "reverse")),
        gap: diff(result.summary.gap, base.result.summary.gap),
      },
      test: pairedTest(base.result, result, { ...options, alpha }),
    };
  });
  return { rows, alpha };
}

/** Evaluates every variant on the same items, one after the other, and compares them. */
export async function compare(options: CompareOptions): Promise<ComparisonResult> {
  const { variants, alpha, onVariant, ...shared } = options;
  const results: { name: string; result: EvaluationResult }[] = [];
  for (const [i, v] of variants.entries()) {
    onVariant?.(v.name, i);
    results.push({ name: v.name, result: await evaluate({ ...shared, judge: v.judge, variant: v.name }) });
  }
  return compareResults(results, {
    ...(alpha === undefined ? {} : { alpha }),
    ...(shared.bootstrap?.seed === undefined ? {} : { seed: shared.bootstrap.seed }),
    ...(shared.bootstrap?.resamples === undefined ? {} : { resamples: shared.bootstrap.resamples }),
  });
}

const pct = (x: number | null): string => (x === null || Number.isNaN(x) ? "-" : (100 * x).toFixed(1));
const signed = (x: number | null): string =>
  x === null || Number.isNaN(x) ? "" : ` (${x >= 0 ? "+" : ""}${(100 * x).toFixed(1)})`;

function pValue(p: number): string {
  return p < 0.001 ? "<0.001" : p.toFixed(3);
}

/**
 * The paper's Table 2 layout as plain text: Judge | Forward | Reverse | Avg | Gap | p, with each
 * row's difference from the first row in parentheses and a star on significant rows.
 */
export function formatComparisonTable(comparison: ComparisonResult): string {
  const header = ["Judge", "Forward", "Reverse", "Avg", "Gap", "Avg 95% CI", "p (McNemar)"];
  const body = comparison.rows.map((row) => {
    const s = row.result.summary;
    const fwd = orderAccuracy(row.result, "forward");
    const rev = orderAccuracy(row.result, "reverse");
    return [
      row.name,
      pct(fwd) + signed(row.delta?.forward ?? null),
      pct(rev) + signed(row.delta?.reverse ?? null),
      pct(s.accuracy) + signed(row.delta?.accuracy ?? null),
      pct(s.gap) + signed(row.delta?.gap ?? null),
      `[${pct(s.ci.low)}, ${pct(s.ci.high)}]`,
      row.test ? `${pValue(row.test.mcnemar.pValue)}${row.test.significant ? " *" : ""}` : "(baseline)",
    ];
  });
  const rows = [header, ...body];
  const widths = header.map((_, c) => Math.max(...rows.map((r) => (r[c] as string).length)));
  const line = (r: string[]) => r.map((cell, c) => cell.padEnd(widths[c] as number)).join("  ");
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  const items = comparison.rows[0]?.result.summary.items ?? 0;
  return [
    line(header),
    rule,
    ...body.map(line),
    "",
    `accuracy in %, ${items} items; (±x) = difference from the first row; * = p < ${comparison.alpha} (exact McNemar over item x order judgements)`,
  ].join("\n");
}

/**
 * The report's charts as data (pure): which series, titles, axis labels and notes. The page draws
 * them with Chart.js. A chart whose series are all empty is left out, so every chart on the page
 * has data. Several runs (the demo's control) share each chart: one colour per series, dashed
 * lines for every run after the first.
 *
 * The mean reward is not plotted: with pairwise rewards every decided pair pays win + lose, so it
 * moves only with the share of decided pairs, which the outcome chart shows directly.
 */
import { type RunData, seriesOf, shareOf } from "./data.js";

export type Points = Array<[number, number]>;

export interface Series {
  label: string;
  points: Points;
  color: string;
  dashed: boolean;
  /** A shaded interval around the line (the win rate's 95% interval). */
  band?: { low: Points; high: Points };
}

export interface ChartSpec {
  id: string;
  title: string;
  /** One sentence on how to read it. */
  note: string;
  yTitle: string;
  kind: "line" | "bar";
  stacked?: boolean;
  min?: number;
  max?: number;
  /** A horizontal reference line (0.5 for win rates, 1 for ratios). */
  reference?: number;
  series: Series[];
}

export interface ChartGroup {
  id: string;
  title: string;
  charts: ChartSpec[];
}

const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563"];

/** `[metric key, legend label]` lists for the simple line charts. */
type Keys = ReadonlyArray<readonly [string, string]>;

export function chartGroups(runs: readonly RunData[]): ChartGroup[] {
  const line = (id: string, title: string, note: string, yTitle: string, keys: Keys, extra = {}) =>
    spec({ id, title, note, yTitle, kind: "line", ...extra }, runs, (run) =>
      keys.map(([key, label]) => ({ label, points: seriesOf(run.metrics, key) })),
    );
  const groups: ChartGroup[] = [
    {
      id: "learning",
      title: "Is it learning?",
      charts: [
        spec(
          {
            id: "winrate",
            title: "Win rate of the current policy over the base model",
            note: "Eval prompts at every eval_every, both models with the same seeds, each pair judged in both orders; above 50% the judge prefers the trained policy. Band: 95% interval.",
            yTitle: "win rate",
            kind: "line",
            min: 0,
            max: 1,
            reference: 0.5,
          },
          runs,
          (run) => [
            {
              label: "win rate",
              points: run.evals.map((e) => [e.update, e.rate]),
              band: {
                low: run.evals.map((e) => [e.update, e.interval.low]),
                high: run.evals.map((e) => [e.update, e.interval.high]),
              },
            },
            // The audit judge (judge.audit) on the same pairs: training up, audit flat = reward hacking.
            ...(run.evals.some((e) => e.audit)
              ? [
                  {
                    label: "audit judge",
                    points: run.evals.flatMap((e) =>
                      e.audit ? [[e.update, e.audit.rate] as [number, number]] : [],
                    ),
                  },
                ]
              : []),
          ],
        ),
        spec(
          {
            id: "outcomes",
            title: "Judge outcomes",
            note: "Share of the update's judged pairs. Ties, invalid replies and failed calls train with zero advantage.",
            yTitle: "share of pairs",
            kind: "line",
            min: 0,
            max: 1,
          },
          runs,
          (run) =>
            ["decided", "tie", "invalid", "failed"].map((key) => ({
              label: key,
              points: shareOf(run.metrics, key),
            })),
        ),
        line(
          "agreement",
          "Order agreement",
          "Share of pairs judged in both presentation orders whose two verdicts named the same winner (judge.order: swap).",
          "agreement",
          [["agreement", "agreement"]],
          { min: 0, max: 1 },
        ),
      ],
    },
    {
      id: "optimisation",
      title: "Optimisation",
      charts: [
        line(
          "kl",
          "KL to the reference policy",
          "Divergence of the policy from the base model (the LoRA scaled to zero), per trained transition.",
          "KL",
          [
            ["kl_ref", "KL (closed form)"],
            ["kl", "KL (the loss's estimator)"],
            ["approx_kl", "approx KL (old vs new)"],
          ],
        ),
        line(
          "clip",
          "Clip fraction",
          "Share of transitions whose importance ratio left [1 - clip_range, 1 + clip_range].",
          "fraction",
          [["clip_frac", "clip fraction"]],
          { min: 0 },
        ),
        line(
          "ratio",
          "Importance ratio",
          "Mean ratio of new to old transition probabilities; 1 when training is on-policy.",
          "ratio",
          [["ratio_mean", "mean ratio"]],
          { reference: 1 },
        ),
        line(
          "policy-loss",
          "Policy loss",
          "The clipped surrogate alone (the total loss adds kl_beta x KL).",
          "loss",
          [["policy_loss", "policy loss"]],
        ),
        line(
          "grad-norm",
          "Gradient norm",
          "Global norm before clipping to optim.grad_clip.",
          "norm",
          [["grad_norm", "grad norm"]],
          { min: 0 },
        ),
        line(
          "staleness",
          "Staleness",
          "Updates between the policy that sampled a batch and the one that trains on it (train.pipeline).",
          "updates",
          [["staleness", "staleness"]],
          { min: 0 },
        ),
        line("lr", "Learning rate", "After warmup.", "lr", [["lr", "lr"]], { min: 0 }),
      ],
    },
    {
      id: "cost",
      title: "Time and cost",
      charts: [
        spec(
          {
            id: "timing",
            title: "Time per update by phase",
            note: "Seconds per update, mean over ranks; judge_wait is time spent waiting for verdicts after sampling.",
            yTitle: "seconds",
            kind: "bar",
            stacked: true,
            min: 0,
          },
          runs.slice(0, 1),
          (run) =>
            ["sampling", "decode", "reference", "judge_wait", "update"].map((phase) => ({
              label: phase,
              points: seriesOf(run.metrics, `time_${phase}`),
            })),
        ),
        line(
          "vlm",
          "VLM calls",
          "Cumulative calls to the judge's VLM (cache hits are free and not counted).",
          "calls",
          [["vlm_calls", "calls"]],
          { min: 0 },
        ),
        line(
          "vlm-cost",
          "VLM cost",
          "Cumulative, in the currency of vlm.price.",
          "cost",
          [["vlm_cost", "cost"]],
          { min: 0 },
        ),
      ],
    },
  ];
  return groups
    .map((g) => ({ ...g, charts: g.charts.filter((c) => c.series.some((s) => hasSignal(c, s))) }))
    .filter((g) => g.charts.length > 0);
}

/** A chart needs points; a cost chart of zeros (a free local judge) says nothing. */
function hasSignal(chart: ChartSpec, series: Series): boolean {
  if (series.points.length === 0) return false;
  return chart.id !== "vlm-cost" || series.points.some(([, y]) => y !== 0);
}

function spec(
  base: Omit<ChartSpec, "series">,
  runs: readonly RunData[],
  seriesOfRun: (run: RunData) => Array<Omit<Series, "color" | "dashed">>,
): ChartSpec {
  const series: Series[] = [];
  runs.forEach((run, r) => {
    seriesOfRun(run).forEach((s, i) => {
      if (s.points.length === 0) return;
      series.push({
        ...s,
        label: runs.length > 1 ? `${run.label}: ${s.label}` : s.label,
        color: PALETTE[(runs.length > 1 && seriesOfRun(run).length === 1 ? r : i) % PALETTE.length] as string,
        dashed: r > 0,
      });
    });
  });
  return { ...base, series };
}

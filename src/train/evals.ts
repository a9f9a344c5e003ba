/**
 * Win rate of the current policy over the base model at every `train.eval_every`.
 *
 * At an eval point rank 0 samples the eval prompts twice with the same seeds, once with the LoRA
 * scaled to zero (the base model) and once as trained, and reports the images (`POST /v1/event`
 * kind `eval`). The controller judges each prompt's pair in both presentation orders with the
 * run's judge (`judgeBothOrders`, the same scoring as `arr winrate`) while training goes on, and
 * writes one line to `<run>/evals.jsonl`. A judge failure here costs the eval point, never the run.
 *
 * With an audit judge (`judge.audit`) the same pairs are judged by it too (`audit` in the record),
 * and the health monitor's verdict on the point (reward hacking, diversity) is stored beside them.
 */
import { z } from "zod";
import type { HealthFlagName } from "../config/schema.js";
import type { Interval } from "../eval/stats.js";
import type { RewardJudge } from "./reward-service.js";
import {
  type JudgedPair,
  judgeBothOrders,
  type OrderCounts,
  type WinrateJudge,
  type WinrateResult,
} from "./winrate.js";

/** The `data` of a worker's `eval` event. */
export const EvalPointSchema = z
  .object({
    update: z.number().int().positive(),
    grid: z.string().describe("the composite PNG: one row per prompt, base | current"),
    prompts: z.array(z.string()).min(1),
    base: z.array(z.string()).describe("one image per prompt, LoRA scaled to zero"),
    current: z.array(z.string()).describe("one image per prompt, same seeds, the policy being trained"),
    source_images: z.array(z.string()).nullable().describe("editing: the source image of each prompt"),
    spread: z
      .object({ base: z.array(z.number().nullable()), current: z.array(z.number().nullable()) })
      .nullish()
      .describe("per prompt, the latents' spread across health.diversity.seeds seeds (null: one seed)"),
  })
  .refine((p) => p.base.length === p.prompts.length && p.current.length === p.prompts.length, {
    message: "base and current need one image per prompt",
  });
export type EvalPoint = z.infer<typeof EvalPointSchema>;

/** The audit judge's win rate of the current policy over the base, on the same pairs. */
export type AuditRecord = Omit<WinrateResult, "images"> & { pairs: JudgedPair[] };

/** One line of evals.jsonl. */
export interface EvalRecord {
  update: number;
  /** Mean per-prompt score of the current policy over the base (0.5: no difference). */
  rate: number;
  interval: Interval;
  prompts: number;
  /** Judgements per order: current preferred (a), base preferred (b), undecided. */
  forward: OrderCounts;
  reverse: OrderCounts;
  grid: string;
  pairs: Array<JudgedPair & { prompt: string; sourceImage: string | null; base: string; current: string }>;
  // Absent from the rows of runs recorded before training health existed.
  /** The same pairs under the audit judge (null: no audit judge). */
  audit?: AuditRecord | null;
  /** The point's latent spreads across seeds (null: not measured). */
  spread?: EvalPoint["spread"];
  /** The health rules' verdict on this point (src/train/health/). */
  health?: EvalHealth | null;
}

/** What the health monitor says about one eval point. */
export interface EvalHealth {
  /** The point's flags that hold (reward_hacking, diversity_collapse). */
  flags: HealthFlagName[];
  /** Every rule checked on the point, raised or not, with its numbers in words. */
  checks: Array<{ flag: HealthFlagName; raised: boolean; reason: string }>;
  /** mean current spread / mean base spread (null: not measured). */
  diversity_ratio: number | null;
}

export async function judgeEvalPoint(
  point: EvalPoint,
  judge: WinrateJudge,
  auditJudge: WinrateJudge | null = null,
): Promise<EvalRecord> {
  const items = point.prompts.map((prompt, i) => ({
    prompt,
    sourceImage: point.source_images?.[i] ?? null,
    current: point.current[i] as string,
    base: point.base[i] as string,
  }));
  const pairsToJudge = items.map((it) => ({
    prompt: it.prompt,
    ...(it.sourceImage ? { sourceImage: it.sourceImage } : {}),
    a: it.current,
    b: it.base,
  }));
  const [judged, audit] = await Promise.all([
    judgeBothOrders(judge, pairsToJudge),
    auditJudge ? judgeBothOrders(auditJudge, pairsToJudge) : null,
  ]);
  const { pairs, ...summary } = judged;
  return {
    update: point.update,
    ...summary,
    grid: point.grid,
    pairs: pairs.map((pair, i) => ({ ...(items[i] as (typeof items)[number]), ...pair })),
    audit,
    spread: point.spread ?? null,
    health: null,
  };
}

/** Tracker tags of an eval point. */
export function evalScalars(record: EvalRecord): Record<string, number> {
  return {
    "eval/winrate_vs_base": record.rate,
    "eval/winrate_low": record.interval.low,
    "eval/winrate_high": record.interval.high,
  };
}

/**
 * The reward judge seen as a win-rate judge: the preferred candidate is the verdict's winner, or
 * (a judge that only gives rewards) the one with the highest reward.
 */
export function winrateJudgeOf(judge: RewardJudge): WinrateJudge {
  return {
    async compare(input) {
      const verdict = await judge.compare(input);
      if (verdict.outcome !== "decided") return { outcome: verdict.outcome, winner: null };
      const best = Math.max(...verdict.rewards);
      const winner = verdict.winner ?? verdict.rewards.indexOf(best);
      return { outcome: "decided", winner, ...(verdict.reason ? { reason: verdict.reason } : {}) };
    },
  };
}

export interface EvalPoints {
  /** Judge a reported eval point in the background. */
  add(data: unknown): void;
  /**
   * The workers restart from `update`: points after it that are still being judged belong to the
   * abandoned group and are dropped (run-records.ts drops the written ones).
   */
  rewind(update: number): void;
  /** Resolves when every eval point added so far is judged (or has failed). */
  settled(): Promise<void>;
}

export function createEvalPoints(options: {
  judge: WinrateJudge;
  /** Judges the same pairs too (judge.audit). */
  auditJudge?: WinrateJudge | null;
  /** Called with each judged point, in the order judging ends (the controller appends it to evals.jsonl). */
  onRecord: (record: EvalRecord) => void;
  onLog?: (line: string) => void;
}): EvalPoints {
  const pending = new Set<Promise<void>>();
  let generation = 0;
  let floor = Number.POSITIVE_INFINITY;
  return {
    add(data) {
      const parsed = EvalPointSchema.safeParse(data);
      if (!parsed.success) {
        options.onLog?.(`eval event ignored: ${parsed.error.issues[0]?.message}`);
        return;
      }
      const addedIn = generation;
      const task = judgeEvalPoint(parsed.data, options.judge, options.auditJudge ?? null).then(
        (record) => {
          if (addedIn !== generation && record.update > floor) return;
          options.onRecord(record);
        },
        (error: unknown) => {
          const why = error instanceof Error ? error.message : String(error);
          options.onLog?.(`eval at update ${parsed.data.update} not judged: ${why}`);
        },
      );
      pending.add(task);
      void task.finally(() => pending.delete(task));
    },
    rewind(update) {
      generation += 1;
      floor = update;
    },
    async settled() {
      while (pending.size > 0) await Promise.all(pending);
    },
  };
}

/**
 * The run's health monitor: feeds the judgements, the per-update boundary and the audits at each
 * eval point into the pure rules, and reports what holds now (metrics.jsonl, the progress line) and
 * each flag when it is first raised (the log, and a stop when `train.health.stop_on` lists it).
 */
import { existsSync, readFileSync } from "node:fs";
import type { HealthConfig, HealthFlagName } from "../../config/schema.js";
import type { EvalHealth, EvalRecord } from "../evals.js";
import type { JudgementRecord } from "../reward-service.js";
import { checkDiversity, type DiversityCheck } from "./diversity.js";
import type { FlagCheck, RaisedFlag } from "./flags.js";
import { addJudgement, checkJudgeDrift, emptyTally, type JudgeTally } from "./judge-drift.js";
import { checkRewardHacking, type RewardHackingCheck, type WinTally } from "./reward-hacking.js";

/** What the controller knows at one eval point. */
export interface AuditPoint {
  update: number;
  /** Win rate of the current policy over the base under the training judge, and the audit judge. */
  training: WinTally;
  audit: WinTally | null;
  /** Per-prompt spread of the latents across seeds, base and current (null: not measured). */
  spread: { base: (number | null)[]; current: (number | null)[] } | null;
}

export interface AuditResult {
  rewardHacking: RewardHackingCheck;
  diversity: DiversityCheck;
}

/** The `health` field of a metrics.jsonl row. */
export interface HealthSnapshot {
  /** The flags that hold now. */
  flags: HealthFlagName[];
  judge: {
    agreement: number | null;
    agreement_baseline: number | null;
    tie_rate: number | null;
    tie_rate_baseline: number | null;
    invalid_rate: number | null;
    invalid_rate_baseline: number | null;
    latency_s: number | null;
    latency_baseline_s: number | null;
  };
  /** The latest audit (null before the first eval point is judged). */
  audit: {
    update: number;
    training_winrate: number;
    audit_winrate: number | null;
    diversity_ratio: number | null;
  } | null;
}

export interface HealthMonitor {
  /** A judged pair (its `step`: updates done before it was sampled). */
  judgement(record: {
    step: number;
    outcome: string;
    agreement: boolean | null;
    cached: boolean;
    latencyMs: number;
  }): void;
  /** Update `update` is done: check the judge over its judgements so far. */
  update(update: number): HealthSnapshot;
  /** An eval point is judged: check reward hacking and diversity. */
  audit(point: AuditPoint): AuditResult;
  /** The workers restart from `update`: forget what came after it. */
  rewind(update: number): void;
  /** Every flag raised so far, at its first update (again after it cleared and came back). */
  readonly raised: readonly RaisedFlag[];
}

export function createHealthMonitor(options: {
  health: HealthConfig;
  onRaise?: (flag: RaisedFlag) => void;
}): HealthMonitor {
  const { health } = options;
  const tallies = new Map<number, JudgeTally>();
  let judgeChecks: FlagCheck[] = [];
  let auditChecks: FlagCheck[] = [];
  let lastAudit: HealthSnapshot["audit"] = null;
  let lastJudge: HealthSnapshot["judge"] = snapshotJudge(null);
  const holding = new Set<HealthFlagName>();
  const raised: RaisedFlag[] = [];

  const settle = (checks: readonly FlagCheck[], update: number) => {
    for (const check of checks) {
      if (check.raised && !holding.has(check.flag)) {
        holding.add(check.flag);
        const flag = { flag: check.flag, update, reason: check.reason };
        raised.push(flag);
        options.onRaise?.(flag);
      } else if (!check.raised) {
        holding.delete(check.flag);
      }
    }
  };
  const snapshot = (): HealthSnapshot => ({
    flags: [...judgeChecks, ...auditChecks].filter((c) => c.raised).map((c) => c.flag),
    judge: lastJudge,
    audit: lastAudit,
  });

  return {
    judgement(record) {
      let tally = tallies.get(record.step);
      if (!tally) {
        tally = emptyTally();
        tallies.set(record.step, tally);
      }
      addJudgement(tally, record);
    },
    update(update) {
      const history = Array.from({ length: update }, (_, step) => tallies.get(step) ?? emptyTally());
      const report = checkJudgeDrift(history, { ...health.judge, level: health.level });
      judgeChecks = report.checks;
      lastJudge = snapshotJudge(report);
      settle(judgeChecks, update);
      return snapshot();
    },
    audit(point) {
      const rewardHacking = checkRewardHacking(point.training, point.audit, health.level);
      const diversity = checkDiversity(point.spread ?? { base: [], current: [] }, health.diversity.min_ratio);
      // Eval points are judged in the background: one that finishes after a later one is stale.
      if (lastAudit && point.update < lastAudit.update) return { rewardHacking, diversity };
      auditChecks = [rewardHacking, diversity];
      lastAudit = {
        update: point.update,
        training_winrate: rewardHacking.training.rate,
        audit_winrate: rewardHacking.audit?.rate ?? null,
        diversity_ratio: diversity.ratio,
      };
      settle(auditChecks, point.update);
      return { rewardHacking, diversity };
    },
    rewind(update) {
      for (const step of tallies.keys()) if (step >= update) tallies.delete(step);
      if (lastAudit && lastAudit.update > update) {
        lastAudit = null;
        auditChecks = [];
      }
    },
    get raised() {
      return raised;
    },
  };
}

function snapshotJudge(report: ReturnType<typeof checkJudgeDrift> | null): HealthSnapshot["judge"] {
  return {
    agreement: report?.agreement.window ?? null,
    agreement_baseline: report?.agreement.baseline ?? null,
    tie_rate: report?.tieRate.window ?? null,
    tie_rate_baseline: report?.tieRate.baseline ?? null,
    invalid_rate: report?.invalidRate.window ?? null,
    invalid_rate_baseline: report?.invalidRate.baseline ?? null,
    latency_s: report?.latency.window ?? null,
    latency_baseline_s: report?.latency.baseline ?? null,
  };
}

/**
 * The monitor of one `train()` session: logs each flag when it is raised, asks the run to stop on
 * the flags `stop_on` lists, and when the workers start from a checkpoint forgets what came after
 * it and (once, after a resume) reads the run's judgements back for the judge's baseline.
 */
export function runHealth(options: {
  health: HealthConfig;
  judgementsFile: string;
  log: (line: string) => void;
  requestStop: (reason: string) => void;
}): HealthMonitor & { started(update: number): void } {
  const monitor = createHealthMonitor({
    health: options.health,
    onRaise: (flag) => {
      const stops = options.health.stop_on.includes(flag.flag);
      options.log(
        `health: ${flag.flag} at update ${flag.update}: ${flag.reason}${stops ? " (train.health.stop_on: stopping)" : ""}`,
      );
      if (stops) options.requestStop(`health flag ${flag.flag} at update ${flag.update}: ${flag.reason}`);
    },
  });
  let seeded = false;
  return Object.assign(monitor, {
    started(update: number) {
      monitor.rewind(update);
      if (!seeded && update > 0)
        for (const row of readJudgements(options.judgementsFile)) monitor.judgement(row);
      seeded = true;
    },
  });
}

/** An eval point's record through the health rules: what its flags say, stored in evals.jsonl. */
export function assessEvalPoint(health: HealthMonitor, record: EvalRecord): EvalHealth {
  const tally = (r: { rate: number; prompts: number }) => ({ score: r.rate * r.prompts, prompts: r.prompts });
  const result = health.audit({
    update: record.update,
    training: tally(record),
    audit: record.audit ? tally(record.audit) : null,
    spread: record.spread ?? null,
  });
  const checks = [result.rewardHacking, result.diversity].map(({ flag, raised, reason }) => ({
    flag,
    raised,
    reason,
  }));
  return {
    flags: checks.filter((c) => c.raised).map((c) => c.flag),
    checks,
    diversity_ratio: result.diversity.ratio,
  };
}

/** The judgements a run recorded so far (a resume's), for the judge-health baseline. */
function readJudgements(file: string): JudgementRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as JudgementRecord);
}

/**
 * The run's records across resumes and restarts: metrics.jsonl, evals.jsonl and judgements.jsonl
 * hold one row per update, eval point and judged pair of the run as it finally went, and summary.json covers every
 * session of the run.
 *
 * A worker group that starts from a checkpoint (`--resume`, or torchrun restarting a crashed
 * group) redoes the updates after it. Their old rows are dropped when it starts ({@link rewindRecords}),
 * so a redone update is recorded once, by the run that kept it.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { writeFileAtomic } from "../util/atomic-write.js";
import type { RunPaths } from "./run-dir.js";

/** Keeps the lines of a JSONL file whose parsed row passes `keep`; returns how many were dropped. */
function filterJsonl(path: string, keep: (row: Record<string, unknown>) => boolean): number {
  if (!existsSync(path)) return 0;
  const lines = readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "");
  const kept = lines.filter((line) => {
    try {
      return keep(JSON.parse(line) as Record<string, unknown>);
    } catch {
      return false; // a line cut short by a crash mid-append
    }
  });
  if (kept.length === lines.length) return 0;
  const tmp = `${path}.rewind.tmp`;
  writeFileSync(tmp, kept.map((line) => `${line}\n`).join(""));
  renameSync(tmp, path);
  return lines.length - kept.length;
}

/**
 * Forget the updates after `update` (the checkpoint a worker group starts from): metrics rows and
 * eval points of later updates, and judgements of pairs sampled for them (a judgement's `step`
 * counts the updates done before it). Synchronous, so no append can slip in between.
 */
export function rewindRecords(
  paths: RunPaths,
  update: number,
): { metrics: number; judgements: number; evals: number } {
  return {
    metrics: filterJsonl(paths.metrics, (row) => typeof row.step === "number" && row.step <= update),
    judgements: filterJsonl(paths.judgements, (row) => typeof row.step === "number" && row.step < update),
    evals: filterJsonl(paths.evals, (row) => typeof row.update === "number" && row.update <= update),
  };
}

/** One `train()` call on the run: a new run or a resume. */
export interface RunSession {
  started: string;
  ended: string;
  /** Updates done when the session started (from the checkpoint it resumed) and when it ended. */
  fromUpdate: number;
  toUpdate: number;
  stopReason: string | null;
  /** How the workers ended: torchrun's exit code, or the signal that killed it. */
  exit: { exitCode: number | null; signal: string | null };
  /** Times torchrun restarted the worker group after a crash. */
  restarts: number;
  usage: { calls: number; tokens: number; cost: number };
}

export interface RunSummary {
  runDir: string;
  /** Updates done over the whole run. */
  updates: number;
  maxSteps: number;
  finished: boolean;
  stopReason: string | null;
  /** Judged pairs by outcome over the whole run (the rows of judgements.jsonl). */
  judgements: Record<"decided" | "tie" | "invalid" | "failed", number>;
  /** VLM usage summed over the sessions (redone updates were paid for too). */
  usage: { calls: number; tokens: number; cost: number };
  lastMetrics: Record<string, unknown> | null;
  sessions: RunSession[];
}

/** Adds `session` to the run's summary.json (written whole or not at all) and returns the summary. */
export async function recordSession(
  paths: RunPaths,
  session: RunSession,
  run: { maxSteps: number; lastMetrics: Record<string, unknown> | null },
): Promise<RunSummary> {
  const previous = await readSummary(paths);
  const sessions = [...(previous?.sessions ?? []), session];
  const judgements = { decided: 0, tie: 0, invalid: 0, failed: 0 };
  if (existsSync(paths.judgements)) {
    for (const line of (await readFile(paths.judgements, "utf8")).split("\n")) {
      const outcome = line.trim() ? (JSON.parse(line) as { outcome?: string }).outcome : undefined;
      if (outcome && outcome in judgements) judgements[outcome as keyof typeof judgements] += 1;
    }
  }
  const summary: RunSummary = {
    runDir: paths.dir,
    updates: session.toUpdate,
    maxSteps: run.maxSteps,
    finished: session.toUpdate >= run.maxSteps && session.exit.exitCode === 0,
    stopReason: session.stopReason,
    judgements,
    usage: {
      calls: sessions.reduce((s, x) => s + x.usage.calls, 0),
      tokens: sessions.reduce((s, x) => s + x.usage.tokens, 0),
      cost: sessions.reduce((s, x) => s + x.usage.cost, 0),
    },
    lastMetrics: run.lastMetrics ?? previous?.lastMetrics ?? null,
    sessions,
  };
  await writeFileAtomic(paths.summary, `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}

export async function readSummary(paths: RunPaths): Promise<RunSummary | null> {
  if (!existsSync(paths.summary)) return null;
  try {
    const parsed = JSON.parse(await readFile(paths.summary, "utf8")) as Partial<RunSummary>;
    return Array.isArray(parsed.sessions) ? (parsed as RunSummary) : null;
  } catch {
    return null; // an older or damaged summary starts a new session list
  }
}

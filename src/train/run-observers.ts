/**
 * What the controller does with a run's events besides the records train() writes itself: the
 * experiment trackers (tracking.ts) and the win rate over the base at each eval point (evals.ts).
 * train() forwards the reward service's callbacks here.
 */
import type { Config } from "../config/schema.js";
import { createEvalPoints, evalScalars, winrateJudgeOf } from "./evals.js";
import type { RewardJudge } from "./reward-service.js";
import type { RunPaths } from "./run-dir.js";
import { type RunTrackers, startTrackers, trackerScalars } from "./tracking.js";

export interface RunObservers {
  /** A metrics.jsonl row was written. */
  metrics(step: number, row: Record<string, unknown>): void;
  /** The workers (re)started from the checkpoint at `update` (0: a fresh run). */
  started(update: number): void;
  /** Rank 0 reported an eval point (the `eval` event's data). */
  evalPoint(data: Record<string, unknown>): void;
  /** Waits for the eval points still being judged, then ends the trackers' stream. */
  close(): Promise<void>;
}

export function createRunObservers(options: {
  config: Config;
  paths: RunPaths;
  python: string;
  env: Record<string, string>;
  /** The judge of the eval points (a control run passes the unreversed one). */
  evalJudge: RewardJudge;
  /** Appends a row to one of the run's JSONL files (train()'s writer, which stops on a full disk). */
  append: (file: string, row: unknown) => void;
  log: (line: string) => void;
}): RunObservers {
  const { config, paths, log } = options;
  // Started with the workers' first `started` event: a run whose workers fail while loading has no
  // tracker process to start and stop.
  let trackers: RunTrackers | null = null;
  const evals = createEvalPoints({
    judge: winrateJudgeOf(options.evalJudge),
    onRecord: (record) => {
      options.append(paths.evals, record);
      trackers?.scalars(record.update, evalScalars(record));
      const pct = (x: number) => (100 * x).toFixed(1);
      log(
        `eval at update ${record.update}: win rate over the base ${pct(record.rate)}% [${pct(record.interval.low)}, ${pct(record.interval.high)}] on ${record.prompts} prompts`,
      );
    },
    onLog: log,
  });
  return {
    metrics: (step, row) => trackers?.scalars(step, trackerScalars(row)),
    started(update) {
      evals.rewind(update);
      trackers ??= startTrackers({ config, paths, python: options.python, env: options.env, onLog: log });
      // TensorBoard drops what it had past the checkpoint too (a fresh run has nothing to drop).
      if (update > 0) trackers?.rewind(update + 1);
    },
    evalPoint(data) {
      trackers?.image(Number(data.update), "eval/grid", String(data.grid));
      evals.add(data);
    },
    async close() {
      await evals.settled();
      await trackers?.close();
    },
  };
}

/**
 * Training step time split on the tiny model with 2 workers (torchrun, gloo, CPU): sampling,
 * decoding, reference pass, judge wait, update and idle (wall time between two updates minus the
 * timed parts), with a stand-in judge that answers after a fixed delay set to 0, 0.5x and 2x the
 * sampling time measured in the first run, each with the synchronous loop (pipeline depth 0) and
 * then the pipelined one (depth 1). At depth 0 overlap hides judge latency only while the workers
 * have other work (the reference pass) to do; at depth 1 they sample the next step meanwhile.
 */
import { rm } from "node:fs/promises";
import { loadConfig } from "../src/config/load.js";
import type { RewardJudge } from "../src/train/reward-service.js";
import { readMetrics } from "../src/train/run-dir.js";
import { train } from "../src/train/train.js";

export interface SplitRow {
  /** Injected judge latency (ms) and as a multiple of the sampling time. */
  judgeLatencyMs: number;
  multiple: number;
  /** train.pipeline.depth */
  depth: number;
  updates: number;
  /** Mean seconds per update over the updates after the first (warm-up). */
  wallS: number;
  samplingS: number;
  decodeS: number;
  referenceS: number;
  judgeWaitS: number;
  updateS: number;
  idleS: number;
  /** judge wait / wall */
  judgeWaitShare: number;
  /** 1 - judge wait / judge latency (null at zero latency). */
  hidden: number | null;
  /** Mean optimizer updates between a batch's sampling and its update, and the PPO clip fraction. */
  staleness: number;
  clipFrac: number;
}

function delayedJudge(ms: number): RewardJudge {
  return {
    compare: async (input) => {
      if (ms > 0) await new Promise((r) => setTimeout(r, ms));
      // A fixed rule keeps the reward signal defined; the bench measures time, not learning.
      const rewards = input.candidates.map((_, i) => (i === 0 ? 1 : -0.1));
      return { outcome: "decided", rewards, agreement: true, cached: false };
    },
  };
}

const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : 0);

export async function runSplit(
  judgeLatencyMs: number,
  multiple: number,
  depth: number,
  steps: number,
  outDir: string,
  log: (line: string) => void,
): Promise<SplitRow> {
  const loaded = await loadConfig({
    preset: "tiny-cpu",
    set: [
      `train.max_steps=${steps}`,
      `run.output_dir=${outDir}`,
      "train.eval_every=0",
      `train.checkpoint_every=${steps * 10}`,
      `train.pipeline.depth=${depth}`,
    ],
  });
  const result = await train({
    config: loaded.config,
    judge: delayedJudge(judgeLatencyMs),
    onLog: (line) => {
      if (/Traceback|Error/.test(line)) log(line);
    },
  });
  const lines = await readMetrics(result.paths);
  await rm(result.runDir, { recursive: true, force: true });
  // Update 1 carries start-up costs (first forward, allocator warm-up): skip it.
  const kept = lines.slice(1);
  if (kept.length < 2) throw new Error(`too few updates recorded (${lines.length})`);
  const times = lines.map((l) => Date.parse(String(l.time)));
  const walls = times.slice(1).map((t, i) => (t - (times[i] as number)) / 1000);
  const mean = (key: string) => kept.reduce((s, l) => s + num(l[key]), 0) / kept.length;
  const wallS = walls.reduce((a, b) => a + b, 0) / walls.length;
  const row = {
    samplingS: mean("time_sampling"),
    decodeS: mean("time_decode"),
    referenceS: mean("time_reference"),
    judgeWaitS: mean("time_judge_wait"),
    updateS: mean("time_update"),
  };
  const timed = row.samplingS + row.decodeS + row.referenceS + row.judgeWaitS + row.updateS;
  return {
    judgeLatencyMs,
    multiple,
    depth,
    updates: lines.length,
    wallS,
    ...row,
    idleS: Math.max(0, wallS - timed),
    judgeWaitShare: row.judgeWaitS / wallS,
    hidden: judgeLatencyMs > 0 ? 1 - row.judgeWaitS / (judgeLatencyMs / 1000) : null,
    staleness: mean("staleness"),
    clipFrac: mean("clip_frac"),
  };
}

/** Zero latency first (to measure sampling), then 0.5x and 2x that sampling time at depth 0 and 1. */
export async function benchTrainSplit(
  outDir: string,
  steps: number,
  log: (line: string) => void,
): Promise<SplitRow[]> {
  const base = await runSplit(0, 0, 0, steps, outDir, log);
  log(`train split: latency 0 -> sampling ${base.samplingS.toFixed(3)} s/update`);
  const rows = [base];
  for (const depth of [0, 1]) {
    for (const m of [0.5, 2]) {
      const ms = Math.round(base.samplingS * 1000 * m);
      rows.push(await runSplit(ms, m, depth, steps, outDir, log));
      log(`train split: latency ${ms} ms, depth ${depth} done`);
    }
  }
  return rows;
}

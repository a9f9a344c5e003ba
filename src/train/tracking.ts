/**
 * Experiment trackers (`run.trackers`: TensorBoard, Weights & Biases) for a training run.
 *
 * The controller owns them, not a worker rank: it is the one place that sees every figure of an
 * update together (rank 0's reduced metrics, the judge's counts, the VLM calls/tokens/cost, and
 * the win rate over the base it measures at each eval point). It streams them as JSON lines to
 * one Python process (py-runtime/autorubric_runtime/tracking.py) that writes through the trackers'
 * own libraries (tensorboardX, wandb). That process's startup (seconds of imports) overlaps the
 * workers' model loading, and its failure never stops training: metrics.jsonl stays the record.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { execa } from "execa";
import type { Config } from "../config/schema.js";
import { type TrackingPayload, TrackingPayloadSchema, trackingPayload } from "../runtime/payload.js";
import type { RunPaths } from "./run-dir.js";

export interface RunTrackers {
  /** Scalars of one update, tagged as `trackerScalars` does. */
  scalars(step: number, values: Record<string, number>): void;
  /** A PNG file (an eval grid) at an update. */
  image(step: number, tag: string, path: string): void;
  /** The workers (re)start from a checkpoint: updates from `step` on are redone. */
  rewind(step: number): void;
  /** Ends the stream and waits for the writers to flush. */
  close(): Promise<void>;
}

export interface StartTrackersOptions {
  config: Config;
  paths: RunPaths;
  python: string;
  env: Record<string, string>;
  onLog?: (line: string) => void;
}

/** Starts the tracker process for `config.run.trackers`; null when the list is empty. */
export function startTrackers(options: StartTrackersOptions): RunTrackers | null {
  const { config, paths } = options;
  if (config.run.trackers.length === 0) return null;
  const log = (line: string) => options.onLog?.(`[trackers] ${line}`);
  writeFileSync(paths.tracking, `${JSON.stringify(runTrackingPayload(config, paths), null, 2)}\n`);
  // The trackers need their own credentials (WANDB_API_KEY), never the VLM's key.
  const env = { ...options.env };
  if (config.vlm?.api_key_env) delete env[config.vlm.api_key_env];
  const child = execa(options.python, ["-m", "autorubric_runtime.tracking", "--config", paths.tracking], {
    env,
    extendEnv: false,
    cwd: paths.dir,
    stdin: "pipe",
    stdout: "ignore",
    stderr: "pipe",
    reject: false,
  });
  const tail: string[] = [];
  child.stderr?.setEncoding("utf8");
  let partial = "";
  child.stderr?.on("data", (chunk: string) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      tail.push(line);
      if (tail.length > 20) tail.shift();
      log(line);
    }
  });
  let failed = false;
  const exited = child.then((result) => {
    if (result.exitCode !== 0) {
      failed = true;
      log(
        `the tracker process ended (exit ${result.exitCode ?? result.signal}); metrics.jsonl still has every update`,
      );
    }
  });
  // A dead tracker must not take the run with it: writes to its closed pipe are dropped.
  child.stdin?.on("error", () => {
    failed = true;
  });
  const send = (message: Record<string, unknown>) => {
    if (!failed && child.stdin?.writable) child.stdin.write(`${JSON.stringify(message)}\n`);
  };
  return {
    scalars: (step, values) => {
      if (Object.keys(values).length > 0) send({ kind: "scalars", step, values });
    },
    image: (step, tag, path) => send({ kind: "image", step, tag, path }),
    rewind: (step) => send({ kind: "rewind", step }),
    close: async () => {
      child.stdin?.end();
      await exited;
    },
  };
}

/** The run's tracker payload; the W&B id of an earlier session is kept, so a resume continues its W&B run. */
export function runTrackingPayload(config: Config, paths: RunPaths): TrackingPayload {
  const previous = existsSync(paths.tracking)
    ? TrackingPayloadSchema.safeParse(JSON.parse(readFileSync(paths.tracking, "utf8")))
    : null;
  return trackingPayload(config, {
    dir: paths.dir,
    name: basename(paths.dir),
    tensorboardDir: paths.tensorboard,
    wandbId: previous?.success ? previous.data.wandb.id : randomBytes(6).toString("hex"),
  });
}

/** Worker metric keys that count judge outcomes (per update, summed over ranks). */
const JUDGE_KEYS = new Set([
  "samples",
  "pairs",
  "decided",
  "tie",
  "invalid",
  "failed",
  "agreement",
  "cached",
]);
const OPTIM_KEYS = new Set(["lr", "grad_norm"]);

/**
 * Tracker tags of one metrics.jsonl row: `policy/kl`, `judge/tie`, `time/sampling`, `vlm/cost`, ...
 * Every finite number is kept (new worker metrics appear without a change here); strings, nulls
 * and the cumulative judge totals are left out.
 */
export function trackerScalars(row: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(row)) {
    // step and update are the x axis, not a series.
    if (key === "step" || key === "update" || typeof value !== "number" || !Number.isFinite(value)) continue;
    out[tagOf(key)] = value;
  }
  return out;
}

function tagOf(key: string): string {
  if (key.startsWith("time_")) return `time/${key.slice(5)}`;
  if (key.startsWith("vlm_")) return `vlm/${key.slice(4)}`;
  if (key.startsWith("reward_")) return `reward/${key.slice(7)}`;
  if (JUDGE_KEYS.has(key)) return `judge/${key}`;
  if (OPTIM_KEYS.has(key)) return `optim/${key}`;
  return `policy/${key}`;
}

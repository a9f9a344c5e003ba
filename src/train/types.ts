/**
 * The shapes of `train()`: its options, the progress it reports after each update, and its result
 * (re-exported by train.ts).
 */
import type { Config } from "../config/schema.js";
import type { OpenedVlm } from "../vlm/client.js";
import type { HealthFlagName, RaisedFlag } from "./health/flags.js";
import type { RewardJudge, ServiceStats } from "./reward-service.js";
import type { RunPaths } from "./run-dir.js";

/** What the controller reports after each optimizer update (the CLI's progress line shows it). */
export interface TrainProgress {
  update: number;
  totalUpdates: number;
  rewardMean: number | null;
  /** The update's RPO loss, KL to the reference and fraction of clipped ratios (null if not reported). */
  loss: number | null;
  kl: number | null;
  clipFraction: number | null;
  judge: Readonly<ServiceStats>;
  calls: number;
  tokens: number;
  /** VLM spending so far, in `currency` (the price table's). */
  cost: number;
  currency: string;
  /** Seconds of the last update spent sampling, waiting for the judge, and updating. */
  split: { sampling: number; judgeWait: number; update: number } | null;
  /** Seconds the workers measured for this update (start-up excluded), when reported. */
  stepSeconds: number | null;
  /** Health flags that hold now (src/train/health/); empty when all is well. */
  health: readonly HealthFlagName[];
}

export interface TrainOptions {
  /** The resolved config (from `loadConfig`). */
  config?: Config;
  /**
   * Continue the run in this directory from its latest checkpoint. Its stored config is used unless
   * `config` is given (the CLI passes the stored one with `--set` overrides applied).
   */
  resume?: string;
  /** Aborting asks the workers to checkpoint and stop at their next update boundary (Ctrl-C). */
  signal?: AbortSignal;
  /** Aborting kills the workers at once (a second Ctrl-C). */
  killSignal?: AbortSignal;
  /** Judge override (tests inject a deterministic judge). Default: the config's VLM under its rubric. */
  judge?: RewardJudge;
  /**
   * Train a control run: every verdict of the run's judge rewards the reversed ranking, with the
   * run's reward scale and policies (judge/reward.ts). Nothing else differs from a normal run, so
   * learning that comes from the judge moves the two in opposite directions. Not with `judge`.
   */
  reverseVerdicts?: boolean;
  /**
   * Judge of the win rate over the base at each eval point (default: the reward judge). The demo's
   * control run trains on reversed verdicts but is measured by the real judge.
   */
  evalJudge?: RewardJudge;
  /** Audit judge override (tests). Default: the one `judge.audit` names, if any. */
  auditJudge?: RewardJudge;
  /**
   * An already opened VLM to judge with (e.g. the demo's referee, started once); the caller closes
   * it. Default: `openVlm(config)`, closed when the run ends.
   */
  vlm?: OpenedVlm;
  /** Create the new run exactly in this directory (it must not exist yet or be empty). */
  runDir?: string;
  /**
   * The reward service's bearer token (a multi-node run: the CLI passes ARR_JOIN_TOKEN, which the
   * other nodes join with). Default: a random one.
   */
  serviceToken?: string;
  /** A multi-node run: called with node 0's service URL once other nodes can join (`arr train --join URL`). */
  onJoinable?: (url: string) => void;
  onProgress?: (progress: TrainProgress) => void;
  /** Worker log lines and controller notices. */
  onLog?: (line: string) => void;
}

export interface TrainResult {
  runDir: string;
  paths: RunPaths;
  /** Optimizer updates completed (counted over the whole run, resumes included). */
  updates: number;
  /** Why the run stopped before max_steps (a stop request, or a second Ctrl-C), or null when it finished. */
  stopReason: string | null;
  /** Times torchrun restarted the worker group after a crash in this session. */
  restarts: number;
  judge: ServiceStats;
  usage: { calls: number; tokens: number; cost: number };
  lastMetrics: Record<string, unknown> | null;
  /** Health flags raised in this session, each at the update it was first raised. */
  health: readonly RaisedFlag[];
}

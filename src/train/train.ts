/**
 * `train()`: RPO of an image generator, driven from TypeScript.
 *
 * 1. resolve the run directory (new, or an existing one for `resume`), the prompts and the rubric;
 * 2. start the judge (the configured VLM, or the offline referee) and the reward service (loopback
 *    unless `train.service.bind` says otherwise);
 * 3. launch the Python workers with torchrun; they sample, submit pairs, train and checkpoint. With
 *    `distributed.nnodes > 1` this is node 0, which owns the run: the service also answers the other
 *    nodes' `arr train --join` (src/train/join.ts), and their workers judge and report through it;
 * 4. stream their metrics into metrics.jsonl and the progress line;
 * 5. on Ctrl-C or a judge outage, ask the workers to checkpoint and stop; on a worker crash, end the
 *    run with its traceback and the last good checkpoint (torchrun restarts a crashed group from it
 *    first when `distributed.max_restarts` allows); in every case close everything, add the session
 *    to summary.json and write the report.
 */
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Config, TrainConfig } from "../config/schema.js";
import { loadPromptDataset } from "../data/training-prompts.js";
import { ConfigError, TrainingError, UsageError } from "../errors.js";
import { createJudge } from "../judge/judge.js";
import { type LoadedRubric, loadRubric } from "../rubrics/rubric.js";
import { workerConfig } from "../runtime/payload.js";
import { pythonEnv, resolvePython } from "../runtime/python.js";
import { launchWorkers, workerEnv } from "../runtime/torchrun.js";
import { type OpenedVlm, openVlm } from "../vlm/client.js";
import { UsageMeter } from "../vlm/usage.js";
import { openAuditJudge } from "./audit-judge.js";
import { createEvalPoints, evalScalars, winrateJudgeOf } from "./evals.js";
import { assessEvalPoint, runHealth } from "./health/monitor.js";
import { type JoinInfo, joinInfo } from "./join-info.js";
import { writeTrainReport } from "./report/index.js";
import { type JudgementRecord, type RewardJudge, startRewardService } from "./reward-service.js";
import {
  createRunDir,
  openRunDir,
  probeRuntimeVersions,
  type RunPaths,
  redactedPaths,
  writeManifest,
  writePrompts,
  writeRunConfig,
} from "./run-dir.js";
import { recordSession, rewindRecords } from "./run-records.js";
import { type RunTrackers, startTrackers, trackerScalars } from "./tracking.js";
import type { TrainOptions, TrainProgress, TrainResult } from "./types.js";
import { extractTraceback, pythonError } from "./worker-failure.js";

export type { TrainOptions, TrainProgress, TrainResult };

export async function train(options: TrainOptions): Promise<TrainResult> {
  // 1. run directory, prompts, rubric
  if (options.judge && options.reverseVerdicts) {
    throw new UsageError("train(): reverseVerdicts reverses the judge train() builds, not an injected one", {
      hint: "build the injected judge with createJudge({ ..., reverseVerdicts: true }) instead",
    });
  }
  const opened = options.resume ? await openRunDir(options.resume) : null;
  const config = options.config ?? opened?.config;
  if (!config) throw new ConfigError("train() needs a config or a run directory to resume");
  const trainConfig = requireTrain(config);
  const { distributed } = trainConfig;
  if (distributed.node_rank !== 0) {
    throw new ConfigError(
      `train.distributed.node_rank is ${distributed.node_rank} on the node that starts the run`,
      {
        hint: "`arr train` starts a run on node 0; the other nodes join it with `arr train --join URL --node-rank N`",
        path: "train.distributed.node_rank",
      },
    );
  }
  const redacted = redactedPaths(config);
  if (redacted.length > 0) {
    throw new ConfigError(`the run's stored config has redacted values: ${redacted.join(", ")}`, {
      hint: "credentials are never written to a run directory: give them again, e.g. --set vlm.extra_body.KEY=... (better: a field that names an environment variable)",
      path: redacted[0],
    });
  }
  const paths = opened ? opened.paths : await createRunDir(config, { dir: options.runDir });
  // A resume may change fields (a larger max_steps): the stored config always says what ran last.
  if (opened && options.config) await writeRunConfig(paths, config);
  if (!opened || !existsSync(paths.prompts)) {
    await writePrompts(paths, await loadPromptDataset(trainConfig.dataset, config.judge.task));
  }
  const rubric = config.judge.rubric_file ? await loadRubric(config.judge.rubric_file) : null;
  const python = resolvePython();
  const env = pythonEnv();
  const runId = await writeManifest(paths, {
    config,
    python: { path: python.path, versions: await probeRuntimeVersions(python.path, env) },
    rubricHash: rubric?.hash ?? null,
  });

  // 2. judge and reward service
  const meter = new UsageMeter({ budget: config.judge.budget, price: config.vlm?.price ?? null });
  // An injected VLM belongs to the caller; one opened here is closed here.
  const ownVlm = options.judge || options.vlm ? null : await openVlm(config, { meter });
  const vlm = options.judge ? null : (options.vlm ?? ownVlm);
  const judge = options.judge ?? trainingJudge(config, rubric, vlm, meter, options.reverseVerdicts === true);
  const audit = options.auditJudge
    ? { judge: options.auditJudge, close: async () => {} }
    : await openAuditJudge(config, rubric, meter);
  let lastMetrics: Record<string, unknown> | null = null;
  let updates = 0;
  let fromUpdate = 0;
  let restarts = 0;
  let killed = false;
  const sessionStarted = new Date().toISOString();
  // The controller's own files: when one cannot be written (full disk), the run stops with that error.
  let writeFailure: string | null = null;
  const append = (file: string, row: unknown) => {
    try {
      appendFileSync(file, `${JSON.stringify(row)}\n`);
    } catch (error) {
      writeFailure ??= `cannot write ${file}: ${error instanceof Error ? error.message : String(error)}`;
      service.requestStop(writeFailure);
    }
  };
  const log = (line: string) => options.onLog?.(line);
  // Started with the workers' first `started` event: a run whose workers fail while loading has no
  // tracker process to start and stop. Held in an object so `finally` sees the assignment.
  const tracking: { trackers: RunTrackers | null } = { trackers: null };
  const health = runHealth({
    health: trainConfig.health,
    judgementsFile: paths.judgements,
    log,
    requestStop: (reason) => service.requestStop(reason),
  });
  const evals = createEvalPoints({
    // A run trained on reversed verdicts (the demo's control) is measured by the real judge.
    judge: winrateJudgeOf(
      options.evalJudge ??
        (options.reverseVerdicts ? trainingJudge(config, rubric, vlm, meter, false) : judge),
    ),
    auditJudge: audit ? winrateJudgeOf(audit.judge) : null,
    onRecord: (judged) => {
      const record = { ...judged, health: assessEvalPoint(health, judged) };
      append(paths.evals, record);
      tracking.trackers?.scalars(record.update, evalScalars(record));
      log(
        `eval at update ${record.update}: win rate over the base ${(100 * record.rate).toFixed(1)}% [${(100 * record.interval.low).toFixed(1)}, ${(100 * record.interval.high).toFixed(1)}] on ${record.prompts} prompts`,
      );
    },
    onLog: log,
  });

  let joinable: JoinInfo | null = null;
  const multiNode = distributed.nnodes > 1;
  const service = await startRewardService({
    judge,
    ...(options.serviceToken ? { token: options.serviceToken } : {}),
    ...(multiNode ? { join: () => joinable } : {}),
    // Nodes without the run directory upload their samples into it (the judge reads them here).
    ...(multiNode && !distributed.shared_run_dir ? { uploadDir: join(paths.samples, "uploaded") } : {}),
    bind: trainConfig.service.bind,
    port: trainConfig.service.port,
    concurrency: config.judge.concurrency,
    outageSeconds: trainConfig.service.outage_seconds,
    // Workers may only have the run's own samples judged (and the dataset's source images).
    imageRoots: [paths.dir],
    sourceImages: sourceImagesOf(paths.prompts),
    onJudgement: (record: JudgementRecord) => {
      append(paths.judgements, record);
      health.judgement(record);
    },
    onMetrics: ({ step, metrics }) => {
      updates = step;
      const totals = meter.totals;
      const healthNow = health.update(step);
      const line = {
        time: new Date().toISOString(),
        step,
        ...metrics,
        judge: { ...service.stats },
        health: healthNow,
        vlm_calls: totals.calls,
        vlm_tokens: totals.totalTokens,
        vlm_cost: totals.cost,
      };
      lastMetrics = line;
      append(paths.metrics, line);
      tracking.trackers?.scalars(step, trackerScalars(line));
      options.onProgress?.({
        update: step,
        totalUpdates: trainConfig.max_steps,
        rewardMean: numberOrNull(metrics.reward_mean),
        loss: numberOrNull(metrics.loss),
        kl: numberOrNull(metrics.kl),
        clipFraction: numberOrNull(metrics.clip_frac),
        judge: service.stats,
        calls: totals.calls,
        tokens: totals.totalTokens,
        cost: totals.cost,
        currency: config.vlm?.price.currency ?? "USD",
        split: splitOf(metrics),
        stepSeconds: numberOrNull(metrics.time_step),
        health: healthNow.flags,
      });
    },
    onEvent: (event) => {
      if (event.kind === "checkpoint") log(`checkpoint saved: ${String(event.data.path ?? "")}`);
      if (event.kind === "started") {
        const at = Number(event.data.update ?? 0);
        const restart = Number(event.data.restart ?? 0);
        if (restart > restarts) {
          restarts = restart;
          log(
            `worker group restarted (${restart}/${trainConfig.distributed.max_restarts}) from update ${at}`,
          );
        } else {
          fromUpdate = at;
        }
        updates = at;
        // The updates after the checkpoint are redone: their rows are written again by the new group.
        rewindRecords(paths, at);
        health.started(at);
        evals.rewind(at);
        tracking.trackers ??= startTrackers({ config, paths, python: python.path, env, onLog: log });
        // TensorBoard drops what it had past the checkpoint too (a fresh run has nothing to drop).
        if (at > 0) tracking.trackers?.rewind(at + 1);
      }
      if (event.kind === "eval") {
        tracking.trackers?.image(Number(event.data.update), "eval/grid", String(event.data.grid));
        evals.add(event.data);
      }
    },
    onStop: (reason) => log(`stopping: ${reason} (workers checkpoint first)`),
  });

  // 3. workers
  const runJson = workerConfig(
    { ...config, train: trainConfig },
    { runDir: paths.dir, promptsFile: paths.prompts, resume: opened !== null, serviceUrl: service.url },
  );
  await writeFile(paths.runJson, `${JSON.stringify(runJson, null, 2)}\n`);
  if (multiNode) {
    joinable = joinInfo({ runId, paths, distributed, worker: runJson });
    options.onJoinable?.(service.url);
  }
  const workers = launchWorkers({
    python: python.path,
    // The token travels in the environment, never in a file; the VLM's key stays here.
    env: { ...workerEnv(env, config.vlm?.api_key_env ?? null), ARR_SERVICE_TOKEN: service.token },
    distributed,
    runJson: paths.runJson,
    runId,
    cwd: paths.dir,
    onLine: log,
  });
  const onStop = () => service.requestStop("interrupted: checkpointing");
  const onKill = () => {
    killed = true;
    void workers.terminate(2_000);
  };
  options.signal?.addEventListener("abort", onStop);
  options.killSignal?.addEventListener("abort", onKill);
  if (options.signal?.aborted) onStop();

  // 4. wait, 5. clean up whatever happened
  let exit: Awaited<typeof workers.exited>;
  try {
    exit = await workers.exited;
  } finally {
    options.signal?.removeEventListener("abort", onStop);
    options.killSignal?.removeEventListener("abort", onKill);
    await evals.settled();
    await tracking.trackers?.close();
    await service.close();
    await audit?.close();
    await ownVlm?.close();
  }
  const totals = meter.totals;
  const usage = { calls: totals.calls, tokens: totals.totalTokens, cost: totals.cost };
  const stopReason = killed ? "killed: interrupted twice" : (writeFailure ?? service.stopReason);
  const result: TrainResult = {
    runDir: paths.dir,
    paths,
    updates,
    stopReason,
    restarts,
    judge: { ...service.stats },
    usage,
    lastMetrics,
    health: health.raised,
  };
  const session = {
    started: sessionStarted,
    ended: new Date().toISOString(),
    fromUpdate,
    toUpdate: updates,
    stopReason,
    exit: { exitCode: exit.exitCode, signal: exit.signal },
    restarts,
    usage,
  };
  const resume = `arr train --resume ${paths.dir}`;
  try {
    await recordSession(paths, session, { maxSteps: trainConfig.max_steps, lastMetrics });
  } catch (error) {
    throw new TrainingError(`cannot write ${paths.summary}: ${errorText(error)}`, {
      hint: `${lastCheckpoint(paths)}; free space, then \`${resume}\``,
      cause: error,
    });
  }
  await writeTrainReport(paths, { rubric, config }).catch((error: unknown) => {
    log(`report not written: ${errorText(error)}`);
  });
  if (writeFailure !== null) {
    throw new TrainingError(writeFailure, {
      hint: `${lastCheckpoint(paths)}; free space, then \`${resume}\``,
    });
  }
  if (exit.exitCode !== 0 && !killed) {
    const traceback = extractTraceback(exit.tail);
    const cause = pythonError(traceback);
    throw new TrainingError(
      `a training worker failed (exit ${exit.exitCode ?? exit.signal})${cause ? `: ${cause}` : ""}; ${lastCheckpoint(paths)}`,
      { hint: `resume with \`${resume}\` once fixed. Worker output:\n${traceback}` },
    );
  }
  return result;
}

/** Where a resume would continue from, for error messages. */
function lastCheckpoint(paths: RunPaths): string {
  const pointer = join(paths.checkpoints, "latest");
  if (!existsSync(pointer)) return "no checkpoint was written yet (a resume starts from update 0)";
  return `the last good checkpoint is ${join(paths.checkpoints, readFileSync(pointer, "utf8").trim())}`;
}

/** The source images a run's prompts refer to (editing): the only images outside the run it judges. */
function sourceImagesOf(prompts: string): Set<string> {
  const sources = new Set<string>();
  for (const line of readFileSync(prompts, "utf8").split("\n")) {
    const source = line.trim() ? (JSON.parse(line) as { source_image?: unknown }).source_image : null;
    if (typeof source === "string") sources.add(source);
  }
  return sources;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The reward judge of a run: the configured VLM conditioned on the run's rubric. */
function trainingJudge(
  config: Config,
  rubric: LoadedRubric | null,
  vlm: OpenedVlm | null,
  meter: UsageMeter,
  reverseVerdicts: boolean,
): RewardJudge {
  if (!vlm) {
    throw new ConfigError(
      "training needs a judge: set the vlm section (or use the tiny-cpu preset's referee)",
    );
  }
  return createJudge({
    vlm: vlm.client,
    config: config.judge,
    image: vlm.config.image,
    rubric: rubric ? { text: rubric.text, hash: rubric.hash } : null,
    cacheDir: config.judge.cache_dir,
    meter,
    // The run's reward scale (train.rpo.win_reward / lose_reward) is what the workers train on.
    ...(config.train
      ? { rewardScale: { win: config.train.rpo.win_reward, lose: config.train.rpo.lose_reward } }
      : {}),
    reverseVerdicts,
  });
}

function requireTrain(config: Config): TrainConfig {
  if (!config.train) {
    throw new ConfigError("the config has no train section", {
      hint: "start from a preset: --preset tiny-cpu (CPU) or --preset flux-rpo-8gpu",
      path: "train",
    });
  }
  return config.train;
}

function numberOrNull(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function splitOf(metrics: Record<string, unknown>): TrainProgress["split"] {
  const sampling = numberOrNull(metrics.time_sampling);
  const judgeWait = numberOrNull(metrics.time_judge_wait);
  const update = numberOrNull(metrics.time_update);
  return sampling === null || judgeWait === null || update === null ? null : { sampling, judgeWait, update };
}

/**
 * `train()` end to end on CPU: 2 torchrun workers (gloo) on the tiny FLUX, the reward service and a
 * deterministic in-process stand-in judge (the brighter image wins). Launches are shared: the
 * interrupted run is also the first half of the resume-equality check.
 *
 * - metrics.jsonl, checkpoints, grids, the win rate over the base at each eval point, TensorBoard
 *   event files (read back with TensorBoard's own reader), report.html and the manifest of an
 *   uninterrupted run;
 * - Ctrl-C (aborting the signal) at update 2 checkpoints and exits cleanly; resuming to update 4
 *   ends with exactly the LoRA of the uninterrupted 4-update run, and TensorBoard holds one point
 *   per update over both sessions;
 * - kill -9 of a worker with `max_restarts: 1`: torchrun restarts the group, which resumes from the
 *   latest checkpoint; the run ends with all updates, no duplicated rows, the uninterrupted LoRA,
 *   and TensorBoard without the abandoned update's points;
 * - a worker that raises ends the run with a TrainingError carrying the Python traceback, and no
 *   worker process survives;
 * - a judge outage checkpoints and stops with the outage reason, without stepping on failed pairs.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Config } from "../../src/config/schema.js";
import { TrainingError } from "../../src/errors.js";
import { pythonEnv, resolvePython } from "../../src/runtime/python.js";
import type { EvalRecord } from "../../src/train/evals.js";
import type { RewardJudge } from "../../src/train/reward-service.js";
import { readJsonl, readMetrics } from "../../src/train/run-dir.js";
import { readSummary } from "../../src/train/run-records.js";
import { trackerScalars } from "../../src/train/tracking.js";
import { type TrainProgress, type TrainResult, train } from "../../src/train/train.js";
import { brighterJudge, SHORT_RUN, tinyRunConfig } from "../support/training.js";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "arr-train-e2e-"));
});
afterAll(() => rm(root, { recursive: true, force: true }));

function config(name: string, set: string[] = []): Promise<Config> {
  return tinyRunConfig(root, name, [...SHORT_RUN, ...set]);
}

/** Python processes still running for a run (the workers and torchrun itself). */
function survivors(runDir: string): string[] {
  const out = execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" });
  return out.split("\n").filter((line) => line.includes(join(runDir, "run.json")));
}

/** Steps per tag of a TensorBoard log directory, read with TensorBoard's own EventAccumulator. */
function tensorboard(dir: string): { scalars: Record<string, number[]>; images: Record<string, number[]> } {
  const script = `
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "images": 0})
acc.Reload()
tags = acc.Tags()
print(json.dumps({
    "scalars": {t: [e.step for e in acc.Scalars(t)] for t in tags["scalars"]},
    "images": {t: [e.step for e in acc.Images(t)] for t in tags["images"]},
}))`;
  const out = execFileSync(resolvePython().path, ["-c", script, dir], {
    env: pythonEnv(),
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  return JSON.parse(out);
}

async function file(path: string): Promise<Buffer> {
  return readFile(path);
}

let uninterrupted: TrainResult;

describe("train() end to end on CPU with 2 workers", { timeout: 600_000 }, () => {
  it("runs 4 updates: metrics.jsonl, checkpoints, grids, report and manifest", async () => {
    const calls: string[][] = [];
    const progress: TrainProgress[] = [];
    uninterrupted = await train({
      config: await config("full"),
      judge: brighterJudge(calls),
      onProgress: (p) => progress.push({ ...p, judge: { ...p.judge } }),
    });
    const { paths } = uninterrupted;
    expect(uninterrupted.updates).toBe(4);
    expect(uninterrupted.stopReason).toBeNull();
    expect(progress.map((p) => p.update)).toEqual([1, 2, 3, 4]);
    // The progress line's learning signals come from the workers' metric keys (loss, kl, clip_frac).
    for (const p of progress) {
      for (const key of ["loss", "kl", "clipFraction", "stepSeconds"] as const) {
        expect(typeof p[key], key).toBe("number");
      }
      expect(p.currency).toBe("USD");
    }

    // One judged pair per worker per update, each an existing PNG pair sampled by the workers ...
    const training = calls.filter((c) => c[0]?.includes("/samples/"));
    expect(training).toHaveLength(8);
    expect(uninterrupted.judge).toMatchObject({ submitted: 8, completed: 8, failed: 0 });
    expect(training[0]?.[0]).toMatch(/samples\/r[01]-o0-p0-c0\.png$/);
    // ... and at each eval point (2, 4) each eval prompt's current-vs-base pair in both orders.
    const evalCalls = calls.filter((c) => c[0]?.includes("/grids/"));
    expect(evalCalls).toHaveLength(2 * 2 * 2);
    const evals = (await readJsonl(paths.evals)) as unknown as EvalRecord[];
    expect(evals.map((e) => e.update)).toEqual([2, 4]);
    for (const e of evals) {
      expect(e.prompts).toBe(2);
      expect(e.forward.a + e.forward.b + e.forward.undecided).toBe(2);
      expect(e.reverse.a + e.reverse.b + e.reverse.undecided).toBe(2);
      expect(e.rate).toBeCloseTo(e.pairs.reduce((s, p) => s + p.score, 0) / 2, 12);
      for (const pair of e.pairs) {
        expect(existsSync(pair.current) && existsSync(pair.base)).toBe(true);
        // The same seed: the forward order shows the current image first.
        expect(evalCalls).toContainEqual([pair.current, pair.base]);
        expect(evalCalls).toContainEqual([pair.base, pair.current]);
      }
    }

    const metrics = await readMetrics(paths);
    expect(metrics.map((m) => m.step)).toEqual([1, 2, 3, 4]);
    for (const m of metrics) {
      for (const key of [
        "reward_mean",
        "loss",
        "kl",
        "kl_ref",
        "staleness",
        "clip_frac",
        "grad_norm",
        "time_sampling",
        "time_update",
      ]) {
        expect(typeof m[key], key).toBe("number");
      }
      expect(m.decided as number).toBe(2 - (m.tie as number));
      expect(m.judge).toMatchObject({ failed: 0 });
    }
    expect((await readFile(paths.judgements, "utf8")).trim().split("\n")).toHaveLength(8);

    const ckpts = (await readdir(paths.checkpoints)).sort();
    expect(ckpts).toEqual(["checkpoint-2", "checkpoint-4", "latest"]);
    expect((await readFile(join(paths.checkpoints, "latest"), "utf8")).trim()).toBe("checkpoint-4");
    const ck4 = join(paths.checkpoints, "checkpoint-4");
    for (const name of [
      "trainable.safetensors",
      "state.json",
      "scheduler.pt",
      "rng-rank0.pt",
      "rng-rank1.pt",
    ]) {
      expect(existsSync(join(ck4, name)), name).toBe(true);
    }
    expect((await readdir(join(ck4, "lora"))).some((n) => n.endsWith(".safetensors"))).toBe(true);
    expect(JSON.parse(await readFile(join(ck4, "state.json"), "utf8"))).toMatchObject({
      update: 4,
      world_size: 2,
    });

    expect((await readdir(paths.grids)).filter((n) => n.endsWith(".png")).sort()).toEqual([
      "eval-000002.png",
      "eval-000004.png",
    ]);
    // Every scalar series has one point per update; the win rate and the grids one per eval point.
    const tb = tensorboard(paths.tensorboard);
    const tags = Object.keys(trackerScalars(metrics[0] as Record<string, unknown>));
    expect(tags).toEqual(
      expect.arrayContaining([
        "policy/kl",
        "policy/clip_frac",
        "optim/grad_norm",
        "judge/tie",
        "time/sampling",
        "vlm/calls",
      ]),
    );
    for (const tag of tags) expect(tb.scalars[tag], tag).toEqual([1, 2, 3, 4]);
    expect(tb.scalars["eval/winrate_vs_base"]).toEqual([2, 4]);
    expect(tb.images["eval/grid"]).toEqual([2, 4]);

    const report = await readFile(paths.report, "utf8");
    expect(report).toContain('id="chart-winrate"');
    expect(report).toContain('id="chart-clip"');
    expect(report).toContain("data:image/png;base64,");
    const manifest = JSON.parse(await readFile(paths.manifest, "utf8"));
    expect(manifest.python.versions.packages.torch).toMatch(/^\d+\.\d+/);
    expect(manifest.seeds).toMatchObject({ train: 42 });
    expect(survivors(paths.dir)).toEqual([]);
  }, 600_000);

  it("Ctrl-C at update 2 checkpoints and exits cleanly; resume to 4 gives the uninterrupted LoRA", async () => {
    const stop = new AbortController();
    const interrupted = await train({
      config: await config("resumed"),
      judge: brighterJudge(),
      signal: stop.signal,
      onProgress: (p) => {
        if (p.update === 2) stop.abort();
      },
    });
    expect(interrupted.stopReason).toMatch(/interrupted/);
    expect(interrupted.updates).toBe(2);
    expect((await readFile(join(interrupted.paths.checkpoints, "latest"), "utf8")).trim()).toBe(
      "checkpoint-2",
    );
    expect(existsSync(join(interrupted.paths.checkpoints, "checkpoint-4"))).toBe(false);
    expect(survivors(interrupted.paths.dir)).toEqual([]);

    const resumed = await train({ resume: interrupted.runDir, judge: brighterJudge() });
    expect(resumed.updates).toBe(4);
    expect(resumed.stopReason).toBeNull();
    expect((await readMetrics(resumed.paths)).map((m) => m.step)).toEqual([1, 2, 3, 4]);
    expect(tensorboard(resumed.paths.tensorboard).scalars["policy/kl"]).toEqual([1, 2, 3, 4]);
    // summary.json covers both sessions of the run.
    const summary = await readSummary(resumed.paths);
    expect(summary).toMatchObject({ updates: 4, finished: true, stopReason: null });
    expect(summary?.sessions.map((x) => [x.fromUpdate, x.toUpdate, x.stopReason !== null])).toEqual([
      [0, 2, true],
      [2, 4, false],
    ]);
    expect((summary?.judgements.decided ?? 0) + (summary?.judgements.tie ?? 0)).toBe(8);
    const ours = join(resumed.paths.checkpoints, "checkpoint-4");
    const theirs = join(uninterrupted.paths.checkpoints, "checkpoint-4");
    const trainable = await file(join(ours, "trainable.safetensors"));
    expect(trainable.equals(await file(join(theirs, "trainable.safetensors")))).toBe(true);
    // ... and the updates did move the weights (the equality is not between two untouched LoRAs).
    const atTwo = await file(join(resumed.paths.checkpoints, "checkpoint-2", "trainable.safetensors"));
    expect(trainable.equals(atTwo)).toBe(false);
    // The diffusers-format LoRA is the same file, byte for byte (header metadata in sorted order).
    const loras = (await readdir(join(ours, "lora"))).filter((n) => n.endsWith(".safetensors"));
    expect(loras.length).toBeGreaterThan(0);
    for (const name of loras) {
      const a = await file(join(ours, "lora", name));
      expect(a.equals(await file(join(theirs, "lora", name))), name).toBe(true);
    }
  }, 600_000);

  it("kill -9 of a worker: torchrun restarts the group from the latest checkpoint and the run finishes", async () => {
    let killed: string | undefined;
    const restarted = await train({
      config: await config("restarted", ["train.distributed.max_restarts=1"]),
      judge: brighterJudge(),
      onProgress: (p) => {
        // Update 3 is trained and recorded, but its checkpoint is not due (every 2): it is redone.
        if (p.update !== 3 || killed) return;
        const dir = readdirSync(root).find((n) => n.startsWith("restarted-")) ?? "";
        const worker = survivors(join(root, dir)).find((line) => !line.includes("autorubric_runtime.launch"));
        killed = worker;
        process.kill(Number(worker?.trim().split(/\s+/)[0]), "SIGKILL");
      },
    });
    expect(killed).toBeDefined();
    expect(restarted).toMatchObject({ updates: 4, stopReason: null, restarts: 1 });
    const { paths } = restarted;
    // Update 3's first rows were dropped when the restarted group began again from update 2.
    expect((await readMetrics(paths)).map((m) => m.step)).toEqual([1, 2, 3, 4]);
    const judged = (await readFile(paths.judgements, "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(judged.map((j) => j.step).sort()).toEqual([0, 0, 1, 1, 2, 2, 3, 3]);
    const ours = await file(join(paths.checkpoints, "checkpoint-4", "trainable.safetensors"));
    const theirs = await file(join(uninterrupted.paths.checkpoints, "checkpoint-4", "trainable.safetensors"));
    expect(ours.equals(theirs)).toBe(true);
    const summary = await readSummary(paths);
    expect(summary).toMatchObject({ updates: 4, finished: true });
    expect(summary?.sessions).toHaveLength(1);
    expect(summary?.sessions[0]).toMatchObject({ restarts: 1, fromUpdate: 0, toUpdate: 4 });
    // TensorBoard reopened with purge_step 3 when the group restarted: update 3 counts once.
    expect(tensorboard(paths.tensorboard).scalars["policy/kl"]).toEqual([1, 2, 3, 4]);
    expect(survivors(paths.dir)).toEqual([]);
  }, 600_000);

  it("a worker that raises ends the run with its Python traceback and no orphan processes", async () => {
    // An existing folder that is not a LoRA: the workers start, then raise while loading it.
    const notALora = join(root, "not-a-lora");
    await mkdir(notALora, { recursive: true });
    const cfg = await config("crash", [`train.lora.init_from=${notALora}`]);
    const error = await train({ config: cfg, judge: brighterJudge() }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TrainingError);
    const e = error as TrainingError;
    expect(e.message).toMatch(/a training worker failed/);
    expect(e.hint).toContain("Traceback (most recent call last)");
    expect(e.hint).toContain("not-a-lora");
    const runDir = (await readdir(root)).find((n) => n.startsWith("crash-"));
    expect(runDir).toBeDefined();
    expect(survivors(join(root, runDir as string))).toEqual([]);
  }, 600_000);

  it("a judge outage checkpoints and stops with the outage reason, without stepping on failed pairs", async () => {
    const failing: RewardJudge = {
      compare: async () => {
        throw new Error("connection refused by the VLM endpoint");
      },
    };
    const result = await train({
      // 0 s: the first failure is an outage (the timing itself is tested on the service).
      config: await config("outage", ["train.service.outage_seconds=0"]),
      judge: failing,
    });
    expect(result.stopReason).toMatch(/judge outage: every judgement failed for \d+ s .*connection refused/);
    expect(result.updates).toBeGreaterThanOrEqual(1);
    expect(result.updates).toBeLessThan(4);
    expect(result.judge.failed).toBeGreaterThanOrEqual(2);
    const metrics = await readMetrics(result.paths);
    expect(metrics[0]).toMatchObject({ failed: 2, decided: 0, optimizer_step: 0 });
    const latest = (await readFile(join(result.paths.checkpoints, "latest"), "utf8")).trim();
    expect(latest).toBe(`checkpoint-${result.updates}`);
    expect(survivors(result.paths.dir)).toEqual([]);
  }, 600_000);
});

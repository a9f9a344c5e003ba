import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { runPaths } from "../../src/train/run-dir.js";
import { runTrackingPayload, trackerScalars } from "../../src/train/tracking.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "arr-tracking-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("trackerScalars", () => {
  it("tags every finite number of a metrics row by group and leaves out the axis, text, nulls and totals", () => {
    const row = {
      time: "2026-12-01T00:00:00Z",
      step: 3,
      update: 3,
      lr: 0.003,
      grad_norm: 0.7,
      kl: 0.01,
      kl_ref: 0.02,
      clip_frac: 0.25,
      ratio_mean: 1.01,
      reward_mean: 0,
      tie: 1,
      agreement: null,
      time_judge_wait: 0.2,
      vlm_cost: 0.5,
      loss: Number.NaN,
      judge: { decided: 4 },
    };
    expect(trackerScalars(row)).toEqual({
      "optim/lr": 0.003,
      "optim/grad_norm": 0.7,
      "policy/kl": 0.01,
      "policy/kl_ref": 0.02,
      "policy/clip_frac": 0.25,
      "policy/ratio_mean": 1.01,
      "reward/mean": 0,
      "judge/tie": 1,
      "time/judge_wait": 0.2,
      "vlm/cost": 0.5,
    });
  });
});

describe("runTrackingPayload", () => {
  it("resolves every field from the config, keeps the W&B id across sessions and redacts secrets", async () => {
    const { config } = await loadConfig({
      preset: "tiny-cpu",
      set: [
        'run.trackers=["tensorboard","wandb"]',
        "run.wandb.project=rpo-flux",
        "vlm.extra_body.api_key=sk-abcdefghijklmnopqrstuvwx",
      ],
    });
    const paths = runPaths(join(dir, "run-1"));
    const first = runTrackingPayload(config, paths);
    expect(first).toMatchObject({
      trackers: ["tensorboard", "wandb"],
      tensorboard_dir: join(dir, "run-1", "tensorboard"),
      wandb: { project: "rpo-flux", entity: null, name: "run-1", dir: join(dir, "run-1") },
    });
    expect(first.wandb.id).toMatch(/^[0-9a-f]{12}$/);
    expect(JSON.stringify(first.config)).not.toContain("sk-abcdefghijklmnopqrstuvwx");
    await mkdir(paths.dir, { recursive: true });
    await writeFile(paths.tracking, JSON.stringify(first));
    expect(runTrackingPayload(config, paths).wandb.id).toBe(first.wandb.id);
    expect(runTrackingPayload(config, runPaths(join(dir, "run-2"))).wandb.id).not.toBe(first.wandb.id);
  });

  it("rejects a tracker listed twice and defaults to TensorBoard", async () => {
    await expect(loadConfig({ preset: "tiny-cpu", set: ['run.trackers=["wandb","wandb"]'] })).rejects.toThrow(
      /at most once/,
    );
    expect((await loadConfig({ preset: "tiny-cpu" })).config.run.trackers).toEqual(["tensorboard"]);
  });
});

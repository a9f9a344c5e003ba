import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { formatConfig, REDACTED } from "../../src/config/dump.js";
import { loadConfig } from "../../src/config/load.js";
import { DEFAULT_PRESET, listPresets, presetFile } from "../../src/config/presets.js";
import type { Config } from "../../src/config/schema.js";

const root = path.resolve(import.meta.dirname, "../..");
const load = async (preset: string) => (await loadConfig({ cwd: root, preset })).config;

describe("presets", () => {
  it("ships the five presets, each with a one-line description", () => {
    const presets = listPresets();
    expect(presets.map((p) => p.name)).toEqual([
      "arr-qwen3vl-8b-edit",
      "arr-qwen3vl-8b-t2i",
      "flux-rpo-8gpu",
      "qwen-edit-rpo-8gpu",
      "tiny-cpu",
    ]);
    for (const preset of presets) expect(preset.description.length).toBeGreaterThan(20);
    expect(DEFAULT_PRESET).toBe("tiny-cpu");
  });

  it.each(listPresets().map((p) => p.name))("%s validates", async (name) => {
    const config = await load(name);
    expect(config.run.seed).toBe(42);
  });

  it.each(["flux-rpo-8gpu", "qwen-edit-rpo-8gpu", "tiny-cpu"])(
    "%s states the closed-form KL and the synchronous loop in the file itself",
    async (name) => {
      // Written out, not inherited from the schema: a preset documents what the run does.
      const raw = parse(readFileSync(presetFile(name), "utf8")) as {
        train: { rpo: { kl_estimator?: string }; pipeline?: unknown };
      };
      expect(raw.train.rpo.kl_estimator).toBe("closed_form");
      expect(raw.train.pipeline).toEqual({ depth: 0 });
      expect((await load(name)).train?.rpo.kl_estimator).toBe("closed_form");
    },
  );

  it("suggests a preset for a typo", () => {
    expect(() => presetFile("tiny-gpu")).toThrow(/unknown preset "tiny-gpu" \(did you mean "tiny-cpu"\?\)/);
  });

  it("flux-rpo-8gpu carries the paper's FLUX.1-dev values", async () => {
    const config = await load("flux-rpo-8gpu");
    const t = config.train;
    if (!t) throw new Error("no train section");
    expect(t.model).toMatchObject({ family: "flux", path: "black-forest-labs/FLUX.1-dev" });
    expect(t.optim).toMatchObject({ lr: 5e-5, weight_decay: 1e-4, grad_clip: 1.0, warmup_steps: 0 });
    expect(t.optim.scheduler).toBe("constant_with_warmup"); // with 0 warmup: constant
    expect(t.lora).toMatchObject({ rank: 16, alpha: 32, dropout: 0 });
    expect(t.sampler).toMatchObject({
      steps: 8,
      eta: 0.3,
      shift: 3,
      guidance: 3.5,
      height: 512,
      width: 512,
      candidates: 2,
      same_init_noise: true,
      seed: 1223627,
    });
    expect(t.rpo).toMatchObject({
      clip_range: 0.2,
      kl_beta: 0.01,
      adv_clip: 5,
      timestep_fraction: 1,
      win_reward: 1,
      lose_reward: -0.1,
    });
    expect(t).toMatchObject({
      prompts_per_gpu: 1,
      grad_accum: 8,
      max_steps: 300,
      checkpoint_every: 50,
      gradient_checkpointing: true,
      seed: 42,
    });
    expect(t.distributed.nproc_per_node).toBe(8);
    expect(config.vlm).toMatchObject({
      provider: "openai-compatible",
      model: "Qwen/Qwen3-VL-8B-Instruct",
      base_url: "http://localhost:8000/v1",
    });
    expect(config.judge.task).toBe("t2i");
  });

  it("qwen-edit-rpo-8gpu carries the paper's Qwen-Image-Edit-2509 values", async () => {
    const config = await load("qwen-edit-rpo-8gpu");
    const t = config.train;
    if (!t) throw new Error("no train section");
    expect(t.model).toMatchObject({ family: "qwen-edit", path: "Qwen/Qwen-Image-Edit-2509" });
    expect(t.optim).toMatchObject({ lr: 1e-5, weight_decay: 1e-4, grad_clip: 1.0, warmup_steps: 0 });
    expect(t.lora).toMatchObject({ rank: 32, alpha: 64 });
    expect(t.sampler).toMatchObject({ steps: 10, eta: 0.3, shift: 3, height: 512, width: 512, seed: 12627 });
    expect(t.sampler).toMatchObject({ candidates: 2, same_init_noise: true });
    expect(t.rpo).toMatchObject({ clip_range: 0.2, kl_beta: 0.02, adv_clip: 5 });
    expect(t).toMatchObject({
      prompts_per_gpu: 1,
      grad_accum: 4,
      max_steps: 300,
      checkpoint_every: 50,
      seed: 42,
    });
    expect(t.distributed.nproc_per_node).toBe(8);
    expect(config.judge.task).toBe("edit");
    expect(config.induction.task).toBe("edit");
    expect(config.vlm?.base_url).toBe("http://localhost:8000/v1");
  });

  it.each(["arr-qwen3vl-8b-t2i", "arr-qwen3vl-8b-edit"])(
    "%s: vLLM Qwen3-VL-8B and the paper's induction",
    async (name) => {
      const config = await load(name);
      expect(config.vlm).toMatchObject({
        model: "Qwen/Qwen3-VL-8B-Instruct",
        base_url: "http://localhost:8000/v1",
      });
      expect(config.induction).toMatchObject({
        criteria_per_pair: 5,
        max_epochs: 5,
        max_retries: 5,
        categorize: true,
        categories: 5,
        task: name.endsWith("edit") ? "edit" : "t2i",
      });
      expect(config.train).toBeUndefined();
    },
  );

  it("tiny-cpu runs offline on 2 CPU workers with a bundled prompt file", async () => {
    const config = await load("tiny-cpu");
    expect(config.vlm).toMatchObject({ provider: "referee", model: "arr-referee", base_url: null });
    expect(config.judge.order).toBe("swap");
    const t = config.train;
    if (!t) throw new Error("no train section");
    expect(t.model).toMatchObject({ family: "flux", path: "tiny" });
    expect(t.sampler).toMatchObject({ height: 64, width: 64, steps: 8 });
    expect(t.distributed).toMatchObject({ nproc_per_node: 2, backend: "gloo" });
    expect(t.max_steps).toBeLessThanOrEqual(50);
    const prompts = readFileSync(t.dataset.path, "utf8").trim().split("\n");
    expect(prompts.length).toBeGreaterThanOrEqual(30);
    expect(new Set(prompts).size).toBe(prompts.length);
  });
});

describe("formatConfig", () => {
  it("round-trips YAML and JSON, and redacts secrets that slipped into extra_body", async () => {
    const { config } = await loadConfig({
      cwd: root,
      preset: "flux-rpo-8gpu",
      set: ["vlm.extra_body={api_key: plain-value, other: sk-abc123, top_k: 20}"],
    });
    const fromYaml = parse(formatConfig(config)) as Config;
    const fromJson = JSON.parse(formatConfig(config, "json")) as Config;
    for (const copy of [fromYaml, fromJson]) {
      expect(copy.train?.optim.lr).toBe(5e-5);
      expect(copy.vlm?.extra_body).toEqual({ api_key: REDACTED, other: REDACTED, top_k: 20 });
    }
  });
});

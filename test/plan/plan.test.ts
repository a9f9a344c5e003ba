import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/errors.js";
import { plan } from "../../src/plan/plan.js";
import { renderPlan } from "../../src/plan/render.js";
import { type Bridge, createBridge } from "../../src/runtime/bridge.js";

let bridge: Bridge;
beforeAll(async () => {
  bridge = await createBridge();
}, 600_000);
afterAll(async () => {
  await bridge?.close();
});

const flux = (set: string[] = []) => loadConfig({ preset: "flux-rpo-8gpu", set });

describe("plan (parameters counted through the bridge)", () => {
  it("flux-rpo-8gpu fits an 80 GB GPU at 512 px, with the published component sizes", async () => {
    const { config } = await flux();
    const p = await plan({ config, gpu: "a100-80gb", bridge });
    expect(p.memory.verdict.fits).toBe(true);
    const params = Object.fromEntries(p.parameters.components.map((c) => [c.name, c.params]));
    expect(params.transformer).toBeCloseTo(11.9e9, -8);
    expect(params.text_encoder_2).toBeCloseTo(4.76e9, -8);
    expect(p.parameters.lora).toMatchObject({ rank: 16, layers: 190, params: 190 * 16 * 6144 });
    expect(p.sequence).toMatchObject({ image: 1024, text: 512, total: 1536 });
    expect(p.judge.imageTokensPerImage).toBe(256);
    expect(p.judge.callsPerUpdate).toBe(8 * 8 * 2); // 8 GPUs x 8 rollout steps x 1 prompt, both orders
    expect(p.time.efficiency.source).toBe("default");
    expect(renderPlan(p)).toMatch(/verdict: fits/);
  }, 600_000);

  it("the same at 2048 px without gradient checkpointing does not fit, and says why and what to change", async () => {
    const { config } = await flux([
      "train.sampler.height=2048",
      "train.sampler.width=2048",
      "train.gradient_checkpointing=false",
    ]);
    const p = await plan({ config, gpu: "h100-80gb", bridge });
    expect(p.memory.verdict.fits).toBe(false);
    expect(p.memory.peakPhase).toBe("training");
    const text = renderPlan(p);
    expect(text).toMatch(/does NOT fit/);
    expect(text).toMatch(/activations, every block saved: \d+\.\d GB/);
    expect(text).toMatch(
      /gradient checkpointing: [\d.]+ GB -> fits {2}\(--set train\.gradient_checkpointing=true\)/,
    );
  }, 600_000);

  it("qwen-edit-rpo-8gpu counts the Qwen-Image transformer and Qwen2.5-VL encoder and the source tokens", async () => {
    const { config } = await loadConfig({ preset: "qwen-edit-rpo-8gpu" });
    const p = await plan({ config, gpu: "h200-141gb", bridge });
    const params = Object.fromEntries(p.parameters.components.map((c) => [c.name, c.params]));
    expect(params.transformer).toBeCloseTo(20.4e9, -8);
    expect(params.text_encoder).toBeCloseTo(8.29e9, -8);
    // 512^2 target + 512^2 source = 2 x 1024 tokens; the VL encoder sees the source at 384^2 = 196 tokens
    expect(p.sequence).toMatchObject({ image: 1024, condition: 1024, text: 196 + 2 + 48 });
    expect(p.judge.imagesPerCall).toBe(3);
  }, 600_000);

  it("a config without a train section is a ConfigError", async () => {
    const { config } = await loadConfig({ preset: "arr-qwen3vl-8b-t2i" });
    await expect(plan({ config, bridge })).rejects.toBeInstanceOf(ConfigError);
  });
});

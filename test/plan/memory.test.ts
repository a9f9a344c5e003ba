import { describe, expect, it } from "vitest";
import type { DenoiserArch, VaeArch } from "../../src/plan/architecture.js";
import { verdict } from "../../src/plan/fit.js";
import {
  ACTIVATION_BYTES_PER_TOKEN_WIDTH,
  FIXED_OVERHEAD_BYTES,
  FRAGMENTATION,
  type MemoryInput,
  memoryTable,
  VAE_LIVE_TENSORS,
  weightBytes,
} from "../../src/plan/memory.js";
import type { Sequence } from "../../src/plan/sequence.js";

const arch: DenoiserArch = {
  family: "flux",
  className: "FluxTransformer2DModel",
  dim: 3072,
  doubleBlocks: 19,
  singleBlocks: 38,
  inChannels: 64,
  outChannels: 64,
  textDim: 4096,
  pooledDim: 768,
  guidanceEmbeds: true,
};
const vae: VaeArch = { className: "AutoencoderKL", scaleFactor: 8, fullResChannels: 256 };
const seqAt = (h: number, w: number): Sequence => {
  const image = (h / 16) * (w / 16);
  return { image, condition: 0, text: 512, total: image + 512, textNote: "" };
};
const base: MemoryInput = {
  arch,
  vae,
  seq: seqAt(512, 512),
  params: { transformer: 12e9, textEncoders: [{ name: "T5", params: 4.8e9 }], vae: 84e6, lora: 20e6 },
  weightBytes: 2,
  strategy: "ddp",
  world: 8,
  checkpointing: true,
  candidates: 2,
  steps: 8,
  promptsPerGpu: 1,
  height: 512,
  width: 512,
};
const item = (m: MemoryInput, prefix: string) =>
  memoryTable(m).items.find((i) => i.item.startsWith(prefix))?.bytes ?? Number.NaN;
const ctx = { dtype: "bfloat16" as const, resize: seqAt };

describe("memory per GPU", () => {
  it("weights are params x bytes; LoRA state is 16 B per parameter (fp32 weight, grad, two Adam moments)", () => {
    expect(item(base, "transformer weights")).toBe(24e9);
    expect(item(base, "T5 weights")).toBe(9.6e9);
    const lora = ["LoRA weights", "LoRA gradients", "AdamW moments"].map((p) => item(base, p));
    expect(lora.reduce((a, b) => a + b)).toBe(16 * 20e6);
  });

  it("FSDP shards the transformer and the LoRA state over the ranks but not the text encoders", () => {
    const fsdp = { ...base, strategy: "fsdp" as const };
    expect(item(fsdp, "transformer weights")).toBe(24e9 / 8);
    expect(item(fsdp, "LoRA weights")).toBe((20e6 * 4) / 8);
    expect(item(fsdp, "T5 weights")).toBe(9.6e9);
    // a single process has nothing to shard with
    expect(item({ ...fsdp, world: 1 }, "transformer weights")).toBe(24e9);
  });

  it("dtype auto loads fp32 under multi-process FSDP and bf16 otherwise", () => {
    expect(weightBytes("auto", "fsdp", 8)).toBe(4);
    expect(weightBytes("auto", "fsdp", 1)).toBe(2);
    expect(weightBytes("auto", "ddp", 8)).toBe(2);
    expect(weightBytes("float32", "ddp", 1)).toBe(4);
  });

  it("activations: every block's saved tensors without checkpointing, block inputs + one block with it", () => {
    const L = 1024 + 512;
    const perBlock = ACTIVATION_BYTES_PER_TOKEN_WIDTH * 3072 * L;
    expect(item({ ...base, checkpointing: false }, "activations")).toBe(57 * perBlock);
    expect(item(base, "activations")).toBe(57 * 2 * 3072 * L + perBlock);
  });

  it("the VAE decodes all candidates at once, at full resolution", () => {
    expect(item(base, "VAE decode")).toBe(VAE_LIVE_TENSORS * 2 * 256 * 512 * 512 * 2);
    expect(item({ ...base, candidates: 4 }, "VAE decode")).toBe(2 * item(base, "VAE decode"));
  });

  it("the peak is the persistent memory plus the largest phase, plus the overhead", () => {
    const t = memoryTable(base);
    const phases = ["sampling", "training", "decode"].map((p) =>
      t.items.filter((i) => i.phase === p).reduce((s, i) => s + i.bytes, 0),
    );
    expect(t.transient).toBe(Math.max(...phases));
    expect(t.total).toBeCloseTo((t.persistent + t.transient) * (1 + FRAGMENTATION) + FIXED_OVERHEAD_BYTES, 0);
  });
});

describe("verdict", () => {
  const big = { ...base, seq: seqAt(2048, 2048), height: 2048, width: 2048, checkpointing: false };

  it("names the largest items when a config does not fit, and remedies that are recomputed tables", () => {
    const v = verdict(big, 80e9, ctx);
    expect(v.fits).toBe(false);
    expect(v.why[1]).toMatch(/^activations, every block saved/);
    const ckpt = v.remedies.find((r) => r.set === "--set train.gradient_checkpointing=true");
    expect(ckpt?.totalBytes).toBe(memoryTable({ ...big, checkpointing: true }).total);
    expect(ckpt?.fits).toBe(true);
  });

  it("the FSDP remedy goes through dtype auto (fp32 weights) when the config says bfloat16", () => {
    const v = verdict(big, 80e9, ctx);
    const fsdp = v.remedies.find((r) => r.change.startsWith("FSDP"));
    expect(fsdp?.set).toBe("--set train.distributed.strategy=fsdp --set train.model.dtype=auto");
    expect(fsdp?.totalBytes).toBe(memoryTable({ ...big, strategy: "fsdp", weightBytes: 4 }).total);
  });

  it("offers the largest size that fits, and it does fit", () => {
    const v = verdict(big, 80e9, ctx);
    const size = v.remedies.find((r) => r.change.endsWith("images"));
    const [w, h] = (size?.change.split(" ")[0] ?? "").split("x").map(Number) as [number, number];
    expect(size?.fits).toBe(true);
    expect(memoryTable({ ...big, height: h, width: w, seq: seqAt(h, w) }).total).toBeLessThanOrEqual(80e9);
    expect(
      memoryTable({ ...big, height: h + 64, width: w + 64, seq: seqAt(h + 64, w + 64) }).total,
    ).toBeGreaterThan(80e9);
  });

  it("a config that fits has no reasons and no remedies", () => {
    expect(verdict(base, 80e9, ctx)).toMatchObject({ fits: true, why: [], remedies: [] });
  });
});

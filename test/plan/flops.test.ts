import { describe, expect, it } from "vitest";
import { denoiserArch } from "../../src/plan/architecture.js";
import { forwardFlops, transitionFlops } from "../../src/plan/flops.js";
import type { Sequence } from "../../src/plan/sequence.js";
import { torchReference } from "./support/reference.js";

// Small but not degenerate: every width differs, so a term with the wrong fan-in cannot cancel out.
const FLUX = {
  patch_size: 1,
  in_channels: 16,
  num_layers: 2,
  num_single_layers: 3,
  attention_head_dim: 16,
  num_attention_heads: 3,
  joint_attention_dim: 40,
  pooled_projection_dim: 24,
  guidance_embeds: true,
  axes_dims_rope: [4, 6, 6],
};
const QWEN = {
  patch_size: 2,
  in_channels: 16,
  out_channels: 4,
  num_layers: 3,
  attention_head_dim: 16,
  num_attention_heads: 3,
  joint_attention_dim: 40,
  guidance_embeds: false,
  axes_dims_rope: [8, 4, 4],
};

const seq = (image: number, condition: number, text: number): Sequence => ({
  image,
  condition,
  text,
  total: image + condition + text,
  textNote: "",
});

describe("forward FLOPs", () => {
  it("equal torch's FlopCounterMode on the real FLUX and Qwen-Image modules (attention included)", async () => {
    const ref = await torchReference<{ flops: number[] }>({
      flops: [
        { family: "flux", config: FLUX, grid: 8, text: 20 },
        { family: "qwen-edit", config: QWEN, grid: 4, text: 12 },
      ],
    });
    const flux = forwardFlops(
      { ...denoiserArch("flux", { _class_name: "FluxTransformer2DModel", ...FLUX }) },
      seq(64, 0, 20),
      0,
    );
    const qwen = forwardFlops(
      denoiserArch("qwen-edit", { _class_name: "QwenImageTransformer2DModel", ...QWEN }),
      seq(16, 16, 12),
      0,
    );
    expect(flux.total).toBe(ref.flops[0]);
    expect(qwen.total).toBe(ref.flops[1]);
    expect(flux.attention).toBe(5 * 4 * 84 * 84 * 48); // 5 blocks x 4 L^2 d
  }, 600_000);

  it("a trained transition adds the reference pass, and the recompute only under checkpointing", () => {
    const f = { linear: 100, attention: 10, lora: 1, total: 111 };
    const full = transitionFlops(f, { checkpointing: true });
    expect(full).toEqual({
      reference: 111,
      forward: 111,
      recompute: 111,
      backward: 100 + 20 + 2,
      total: 111 * 3 + 122,
    });
    const bare = transitionFlops(f, { checkpointing: false });
    expect(bare.total).toBe(111 * 2 + 122);
  });
});

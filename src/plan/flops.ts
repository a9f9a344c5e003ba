/**
 * FLOPs of the transformer calls one RPO update makes, counted the way `torch.utils.flop_counter`
 * counts them (a multiply-add is 2 FLOPs; matmuls and attention only, norms and element-wise ops
 * are free). test/plan/flops.test.ts checks these formulas against FlopCounterMode on real modules.
 *
 * One forward at batch 1 over L = image + condition + text tokens, with d the model width:
 *   per block, per token:  24 d^2   (double block, each stream: q, k, v, out = 4 d^2; MLP d -> 4d -> d = 8 d^2;
 *                                    single block: q, k, v 3 d^2 + MLP in 4 d^2 + out (d + 4d) -> d 5 d^2)
 *   per block, attention:  4 L^2 d  (Q K^T and P V, 2 L^2 d each)
 *   per block, per sample: 2 x 6 d^2 per stream for the adaLN modulation of a double block, 3 d^2 for a single one
 *   embedders: 2 L_img c_in d + 2 L_txt c_txt d, timestep MLP 256 -> d -> d (FLUX: also guidance and
 *   pooled-text MLPs), output: adaLN d -> 2d and the projection d -> c_out per image token.
 */
import type { DenoiserArch } from "./architecture.js";
import type { Sequence } from "./sequence.js";

/** Width of the sinusoidal timestep embedding both models project (diffusers Timesteps(256)). */
const TIMESTEP_CHANNELS = 256;

export interface ForwardFlops {
  /** Matmul FLOPs of the linear layers. */
  linear: number;
  /** Q K^T and P V over the joint sequence. */
  attention: number;
  /** The LoRA layers' own FLOPs (upper bound: every LoRA layer applied to every token). */
  lora: number;
  total: number;
}

/** One denoiser forward at batch 1 (see the module comment for each term). */
export function forwardFlops(arch: DenoiserArch, seq: Sequence, loraParams: number): ForwardFlops {
  const d = arch.dim;
  const L = seq.total;
  const imageTokens = seq.image + seq.condition;
  const mlp = (fanIn: number) => 2 * (fanIn * d + d * d); // a Linear(fanIn, d) -> Linear(d, d) MLP
  const embed =
    2 * imageTokens * arch.inChannels * d +
    2 * seq.text * arch.textDim * d +
    mlp(TIMESTEP_CHANNELS) * (arch.guidanceEmbeds ? 2 : 1) +
    (arch.pooledDim > 0 ? mlp(arch.pooledDim) : 0);
  const perToken = 24 * d * d * L;
  const double = arch.doubleBlocks * (2 * 2 * 6 * d * d + perToken);
  const single = arch.singleBlocks * (2 * 3 * d * d + perToken);
  // FLUX projects only the generated image's tokens; Qwen-Image projects target and source tokens
  // and the adapter keeps the first half.
  const output = 2 * d * 2 * d + 2 * imageTokens * d * arch.outChannels;
  const linear = embed + double + single + output;
  const attention = (arch.doubleBlocks + arch.singleBlocks) * 4 * L * L * d;
  // a LoRA layer of rank r on Linear(i, o) costs 2 r (i + o) per token; its parameter count is r (i + o)
  const lora = 2 * loraParams * L;
  return { linear, attention, lora, total: linear + attention + lora };
}

export interface TransitionFlops {
  /** The reference pass (LoRA scaled to zero, no grad): run whatever rpo.kl_beta is (the kl_ref metric). */
  reference: number;
  /** The forward with grad. */
  forward: number;
  /** Gradient checkpointing recomputes each block's forward during backward. */
  recompute: number;
  /**
   * Backward: the base weights are frozen, so a linear layer costs one matmul (input gradient, 1x its
   * forward) instead of two; attention costs 2x its forward (dQ, dK, dV, dP); LoRA layers 2x (input
   * and weight gradients).
   */
  backward: number;
  total: number;
}

/** One trained transition: reference pass + forward + (recompute) + backward, each at batch 1. */
export function transitionFlops(fwd: ForwardFlops, options: { checkpointing: boolean }): TransitionFlops {
  const reference = fwd.total;
  const recompute = options.checkpointing ? fwd.total : 0;
  const backward = fwd.linear + 2 * fwd.attention + 2 * fwd.lora;
  return {
    reference,
    forward: fwd.total,
    recompute,
    backward,
    total: reference + fwd.total + recompute + backward,
  };
}

/** Encoder-only text models: about 2 x parameters x tokens (attention and the embedding lookup ignored). */
export function encoderFlops(params: number, tokens: number): number {
  return 2 * params * tokens;
}

/**
 * Work and time of one optimizer update on one GPU (data parallel: every GPU does the same work on
 * its own prompts, so this is also the update's wall time, judge waits and communication aside).
 *
 * Per update, each GPU handles P = prompts_per_gpu x grad_accum prompts, with C candidates each:
 *   text encoding    P x encoder FLOPs
 *   sampling         P x C x S forwards                    (S = sampler.steps, one sample per forward)
 *   reference        P x C x T forwards                    (T = floor((S - 1) x timestep_fraction); any kl_beta)
 *   training         P x C x T x (forward + recompute + backward)
 *   time             FLOPs / (bf16 peak x efficiency)
 * The VAE decode (once per candidate, under 1% of the transformer work at these sizes) and the
 * AdamW step (LoRA only) are not counted.
 */
import type { ForwardFlops, TransitionFlops } from "./flops.js";

export interface Efficiency {
  /** Achieved share of the bf16 peak while sampling (no-grad forwards). */
  sampling: number;
  /** Achieved share while training (reference, forward, recompute, backward). */
  training: number;
  source: "default" | "bench" | "flag";
  note: string;
}

/**
 * Assumed share of the dense bf16 peak when nothing was measured: batch-1 forwards of a few
 * thousand tokens with flash attention typically reach 35-50% on Hopper; not measured on this code.
 */
export const DEFAULT_EFFICIENCY = 0.4;

export interface UpdateWork {
  prompts: number;
  samples: number;
  /** Rollout (outer) steps per update: grad_accum. */
  rolloutSteps: number;
  /** Denoising steps per sample. */
  steps: number;
  /** Trained transitions per sample. */
  trainedSteps: number;
  forwards: { sampling: number; reference: number; training: number };
  flops: { textEncoding: number; sampling: number; reference: number; training: number; total: number };
  seconds: { textEncoding: number; sampling: number; reference: number; training: number; total: number };
}

export interface UpdateInput {
  promptsPerGpu: number;
  gradAccum: number;
  candidates: number;
  steps: number;
  timestepFraction: number;
  forward: ForwardFlops;
  transition: TransitionFlops;
  /** Text-encoder FLOPs per prompt. */
  encodeFlops: number;
  peakFlops: number;
  efficiency: Efficiency;
}

/** Trained transitions per sample, as run_config.py computes them (the last one never). */
export function trainedSteps(steps: number, fraction: number): number {
  return Math.floor((steps - 1) * fraction);
}

export function updateWork(u: UpdateInput): UpdateWork {
  const prompts = u.promptsPerGpu * u.gradAccum;
  const samples = prompts * u.candidates;
  const T = trainedSteps(u.steps, u.timestepFraction);
  const flops = {
    textEncoding: prompts * u.encodeFlops,
    sampling: samples * u.steps * u.forward.total,
    reference: samples * T * u.transition.reference,
    training: samples * T * (u.transition.total - u.transition.reference),
    total: 0,
  };
  flops.total = flops.textEncoding + flops.sampling + flops.reference + flops.training;
  const inference = u.peakFlops * u.efficiency.sampling;
  const training = u.peakFlops * u.efficiency.training;
  const seconds = {
    textEncoding: flops.textEncoding / inference,
    sampling: flops.sampling / inference,
    reference: flops.reference / inference,
    training: flops.training / training,
    total: 0,
  };
  seconds.total = seconds.textEncoding + seconds.sampling + seconds.reference + seconds.training;
  return {
    prompts,
    samples,
    rolloutSteps: u.gradAccum,
    steps: u.steps,
    trainedSteps: T,
    forwards: {
      sampling: samples * u.steps,
      reference: samples * T,
      training: samples * T,
    },
    flops,
    seconds,
  };
}

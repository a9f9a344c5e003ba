/**
 * Memory per GPU of one training worker, item by item, as the runtime allocates it:
 * every worker loads the whole pipeline (py-runtime models/*.py `load`); DDP keeps a full copy of
 * the transformer, FSDP (FULL_SHARD, blocks wrapped) shards the transformer and its LoRA only;
 * sampling, training and decoding run one after another, so only the largest of their transients
 * is live at once (peak = persistent + max(transients)).
 *
 * Activations are estimates with named constants; everything else is exact arithmetic on the
 * parameter counts.
 */
import type { DenoiserArch, VaeArch } from "./architecture.js";
import { blockCount } from "./architecture.js";
import type { Sequence } from "./sequence.js";

/**
 * Bytes per token per unit of model width that one transformer block saves for backward in 16-bit
 * activations. Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer
 * Models", eq. 2) count 34 s b h for a GPT block; flash attention drops their 5 a s^2 b score term
 * and DiT blocks add the adaLN-modulated copies and the q/k RMSNorm inputs (about 6 s b h more).
 */
export const ACTIVATION_BYTES_PER_TOKEN_WIDTH = 40;
/** A no-grad block keeps only its transients: the 4d MLP hidden before and after GELU and ~4 d-wide tensors, bf16. */
export const INFERENCE_BYTES_PER_TOKEN_WIDTH = 24;
/** Live full-resolution tensors at the VAE decoder's peak (upsampled input, conv output, norm output, residual). */
export const VAE_LIVE_TENSORS = 4;
/** CUDA context, cuBLAS workspaces and NCCL buffers, not visible to torch's allocator. */
export const FIXED_OVERHEAD_BYTES = 1.5 * 2 ** 30;
/** Caching-allocator fragmentation on top of the peak it hands out. */
export const FRAGMENTATION = 0.08;
/** bf16 activations under autocast (the runtime always computes in bf16 on CUDA). */
const ACT_BYTES = 2;

export type Phase = "persistent" | "sampling" | "training" | "decode" | "overhead";

export interface MemoryItem {
  item: string;
  bytes: number;
  phase: Phase;
  /** How the figure is obtained. */
  formula: string;
}

export interface MemoryInput {
  arch: DenoiserArch;
  vae: VaeArch;
  seq: Sequence;
  params: {
    transformer: number;
    textEncoders: { name: string; params: number }[];
    vae: number;
    lora: number;
  };
  /** Bytes per weight of the loaded pipeline (2 bf16, 4 fp32). */
  weightBytes: number;
  strategy: "ddp" | "fsdp";
  /** Processes over all nodes. */
  world: number;
  checkpointing: boolean;
  candidates: number;
  steps: number;
  promptsPerGpu: number;
  height: number;
  width: number;
}

export interface MemoryTable {
  items: MemoryItem[];
  persistent: number;
  /** The largest transient phase and its size. */
  peakPhase: Phase;
  transient: number;
  total: number;
}

const gb = (bytes: number) => `${(bytes / 1e9).toFixed(2)} GB`;

/** The table for one configuration (see the module comment). */
export function memoryTable(m: MemoryInput): MemoryTable {
  const items: MemoryItem[] = [];
  const add = (item: string, bytes: number, phase: Phase, formula: string) =>
    items.push({ item, bytes, phase, formula });
  const fsdp = m.strategy === "fsdp" && m.world > 1;
  const shard = fsdp ? m.world : 1;
  const d = m.arch.dim;
  const blocks = blockCount(m.arch);
  const wb = m.weightBytes;

  // 1. weights
  add(
    fsdp ? `transformer weights (FSDP shard 1/${m.world})` : "transformer weights",
    (m.params.transformer * wb) / shard,
    "persistent",
    `${m.params.transformer.toLocaleString("en")} params x ${wb} B${fsdp ? ` / ${m.world} ranks` : ""}`,
  );
  if (fsdp) {
    // FSDP all-gathers one wrapped block at a time in the compute dtype and prefetches the next
    const block = m.params.transformer / blocks;
    add(
      "FSDP gathered blocks (current + prefetched)",
      2 * block * 2,
      "persistent",
      "2 blocks x params/block x 2 B (bf16)",
    );
  }
  for (const enc of m.params.textEncoders) {
    add(
      `${enc.name} weights (not sharded)`,
      enc.params * wb,
      "persistent",
      `${enc.params.toLocaleString("en")} params x ${wb} B on every GPU`,
    );
  }
  add(
    "VAE weights",
    m.params.vae * wb,
    "persistent",
    `${m.params.vae.toLocaleString("en")} params x ${wb} B`,
  );

  // 2. LoRA: peft keeps adapter weights in fp32 over a bf16 base; AdamW adds two fp32 moments
  const lora = m.params.lora;
  add(
    `LoRA weights (fp32)${fsdp ? " shard" : ""}`,
    (lora * 4) / shard,
    "persistent",
    `${lora.toLocaleString("en")} x 4 B`,
  );
  add(
    `LoRA gradients (fp32)${fsdp ? " shard" : ""}`,
    (lora * 4) / shard,
    "persistent",
    `${lora.toLocaleString("en")} x 4 B`,
  );
  add(
    `AdamW moments (2 x fp32)${fsdp ? " shard" : ""}`,
    (lora * 8) / shard,
    "persistent",
    `${lora.toLocaleString("en")} x 8 B`,
  );
  if (!fsdp && m.world > 1) {
    add("DDP gradient buckets", lora * 4, "persistent", "a flat fp32 copy of the gradients for all-reduce");
  }
  const rollout = m.promptsPerGpu * m.candidates * (m.steps + 1) * m.seq.image * m.arch.inChannels * 4;
  add(
    "rollout latents",
    rollout,
    "persistent",
    `${m.promptsPerGpu} prompts x ${m.candidates} candidates x (S+1) x ${m.seq.image} tokens x ${m.arch.inChannels} x 4 B`,
  );

  // 3. transients, one phase at a time
  add(
    "sampling forward (no grad, batch 1)",
    INFERENCE_BYTES_PER_TOKEN_WIDTH * d * m.seq.total,
    "sampling",
    `${INFERENCE_BYTES_PER_TOKEN_WIDTH} B x d ${d} x L ${m.seq.total}`,
  );
  const fullBlock = ACTIVATION_BYTES_PER_TOKEN_WIDTH * d * m.seq.total;
  if (m.checkpointing) {
    add(
      "activations, checkpointed (block inputs + one block recomputed)",
      blocks * ACT_BYTES * d * m.seq.total + fullBlock,
      "training",
      `${blocks} blocks x 2 B x d x L + ${ACTIVATION_BYTES_PER_TOKEN_WIDTH} B x d x L (L = ${m.seq.total})`,
    );
  } else {
    add(
      "activations, every block saved",
      blocks * fullBlock,
      "training",
      `${blocks} blocks x ${ACTIVATION_BYTES_PER_TOKEN_WIDTH} B x d ${d} x L ${m.seq.total}`,
    );
  }
  add(
    `VAE decode peak (${m.candidates} images at once)`,
    VAE_LIVE_TENSORS * m.candidates * m.vae.fullResChannels * m.height * m.width * wb,
    "decode",
    `${VAE_LIVE_TENSORS} tensors x ${m.candidates} x ${m.vae.fullResChannels} ch x ${m.height}x${m.width} x ${wb} B`,
  );

  const persistent = sum(items.filter((i) => i.phase === "persistent"));
  const phases: Phase[] = ["sampling", "training", "decode"];
  const byPhase = phases.map((p) => ({ p, bytes: sum(items.filter((i) => i.phase === p)) }));
  const worst = byPhase.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  const allocated = persistent + worst.bytes;
  const overhead = FIXED_OVERHEAD_BYTES + FRAGMENTATION * allocated;
  add(
    "framework overhead",
    overhead,
    "overhead",
    `${gb(FIXED_OVERHEAD_BYTES)} CUDA context/NCCL + ${FRAGMENTATION * 100}% allocator fragmentation`,
  );
  return { items, persistent, peakPhase: worst.p, transient: worst.bytes, total: allocated + overhead };
}

function sum(items: MemoryItem[]): number {
  return items.reduce((s, i) => s + i.bytes, 0);
}

/**
 * Bytes per weight of the pipeline on a GPU worker: `auto` is bf16, except under FSDP with more than
 * one process, where the worker loads fp32 (FSDP1 flattens each block into one dtype and the LoRA is
 * fp32; py-runtime worker.py) and FSDP mixed precision computes in bf16.
 */
export function weightBytes(
  dtype: "auto" | "float32" | "bfloat16",
  strategy: "ddp" | "fsdp",
  world: number,
): number {
  if (dtype === "float32") return 4;
  if (dtype === "bfloat16") return 2;
  return strategy === "fsdp" && world > 1 ? 4 : 2;
}

/**
 * The verdict of a memory table against a GPU, why it does not fit, and what would make it fit:
 * each remedy is the same table recomputed with one change, so its figure is exact under the model.
 */
import { type MemoryInput, memoryTable, weightBytes } from "./memory.js";
import type { Sequence } from "./sequence.js";

/** Above this share of the GPU a plan that fits is called tight (allocator spikes, longer prompts). */
export const TIGHT_SHARE = 0.9;

export interface Remedy {
  /** What changes. */
  change: string;
  /** How to apply it (`--set` flags), or null when no config option does it yet. */
  set: string | null;
  totalBytes: number;
  fits: boolean;
  note?: string;
}

export interface Verdict {
  fits: boolean;
  tight: boolean;
  totalBytes: number;
  capacityBytes: number;
  /** One line per reason it does not fit (the largest items), empty when it fits. */
  why: string[];
  /** Only when it does not fit. */
  remedies: Remedy[];
}

export interface FitContext {
  dtype: "auto" | "float32" | "bfloat16";
  /** The sequence at another resolution (for the resolution remedy). */
  resize: (height: number, width: number) => Sequence;
}

const gb = (bytes: number) => `${(bytes / 1e9).toFixed(1)} GB`;

export function verdict(input: MemoryInput, capacityBytes: number, ctx: FitContext): Verdict {
  const table = memoryTable(input);
  const total = table.total;
  const fits = total <= capacityBytes;
  if (fits)
    return {
      fits,
      tight: total > TIGHT_SHARE * capacityBytes,
      totalBytes: total,
      capacityBytes,
      why: [],
      remedies: [],
    };
  const over = total - capacityBytes;
  const largest = [...table.items]
    .filter((i) => i.phase !== "overhead" && (i.phase === "persistent" || i.phase === table.peakPhase))
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, 3);
  const why = [
    `needs ${gb(total)} per GPU, ${gb(over)} more than the ${gb(capacityBytes)} available; the peak is the ${table.peakPhase} phase`,
    ...largest.map((i) => `${i.item}: ${gb(i.bytes)} (${i.formula})`),
  ];
  return {
    fits,
    tight: false,
    totalBytes: total,
    capacityBytes,
    why,
    remedies: remedies(input, capacityBytes, ctx),
  };
}

function remedies(input: MemoryInput, capacity: number, ctx: FitContext): Remedy[] {
  const out: Remedy[] = [];
  const tryChange = (change: string, set: string | null, next: MemoryInput, note?: string) => {
    const totalBytes = memoryTable(next).total;
    out.push({ change, set, totalBytes, fits: totalBytes <= capacity, ...(note ? { note } : {}) });
  };
  if (!input.checkpointing) {
    tryChange("gradient checkpointing", "--set train.gradient_checkpointing=true", {
      ...input,
      checkpointing: true,
    });
  }
  if (input.strategy === "ddp" && input.world > 1) {
    // FSDP1 needs one dtype per block and the LoRA is fp32: the runtime refuses an explicit bfloat16
    // base under FSDP, so the remedy goes through dtype auto, which loads the pipeline in fp32
    const dtype = ctx.dtype === "bfloat16" ? "auto" : ctx.dtype;
    const wb = weightBytes(dtype, "fsdp", input.world);
    tryChange(
      "FSDP (shards the transformer and the LoRA state)",
      `--set train.distributed.strategy=fsdp${dtype !== ctx.dtype ? " --set train.model.dtype=auto" : ""}`,
      { ...input, strategy: "fsdp", weightBytes: wb },
      wb === 4
        ? "the runtime loads the pipeline in fp32 under FSDP, so the unsharded text encoders double"
        : undefined,
    );
  }
  if (input.candidates > 2) {
    tryChange("2 candidates per prompt (the VAE decodes them together)", "--set train.sampler.candidates=2", {
      ...input,
      candidates: 2,
    });
  }
  if (input.params.textEncoders.length > 0) {
    tryChange(
      "text encoders off the GPU (encode prompts on the CPU or ahead of time)",
      null,
      { ...input, params: { ...input.params, textEncoders: [] } },
      "not a config option yet: the runtime keeps the text encoders on every GPU",
    );
  }
  const size = largestFittingSize(input, capacity, ctx);
  if (size) {
    const [h, w] = size;
    tryChange(`${w}x${h} images`, `--set train.sampler.height=${h} --set train.sampler.width=${w}`, {
      ...input,
      height: h,
      width: w,
      seq: ctx.resize(h, w),
    });
  }
  return out;
}

/** The largest size at the same aspect ratio, in steps of 64 px on the longer side, that fits; null if none >= 256. */
function largestFittingSize(input: MemoryInput, capacity: number, ctx: FitContext): [number, number] | null {
  const longer = Math.max(input.height, input.width);
  for (let side = Math.floor((longer - 1) / 64) * 64; side >= 256; side -= 64) {
    const scale = side / longer;
    const h = Math.max(16, Math.round((input.height * scale) / 16) * 16);
    const w = Math.max(16, Math.round((input.width * scale) / 16) * 16);
    if (memoryTable({ ...input, height: h, width: w, seq: ctx.resize(h, w) }).total <= capacity)
      return [h, w];
  }
  return null;
}

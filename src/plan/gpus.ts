/**
 * The GPUs `arr plan --gpu` knows: usable memory and dense bf16 tensor throughput from the vendor's
 * data sheets. Memory is what `nvidia-smi` reports as total (a little under the marketing figure:
 * an "80 GB" H100 shows 81,559 MiB); the bf16 rate is the dense figure (no 2:4 sparsity).
 */
import { closest } from "../config/suggest.js";
import { UsageError } from "../errors.js";

export interface GpuSpec {
  /** The `--gpu` name. */
  name: string;
  /** Marketing name. */
  label: string;
  /** Total device memory in bytes, as `nvidia-smi` reports it. */
  memoryBytes: number;
  /** Dense bf16 tensor-core peak in FLOP/s. */
  bf16Flops: number;
}

const MiB = 2 ** 20;

export const GPUS: readonly GpuSpec[] = [
  { name: "a100-40gb", label: "NVIDIA A100 40GB", memoryBytes: 40_960 * MiB, bf16Flops: 312e12 },
  { name: "a100-80gb", label: "NVIDIA A100 80GB", memoryBytes: 81_920 * MiB, bf16Flops: 312e12 },
  { name: "h100-80gb", label: "NVIDIA H100 80GB SXM", memoryBytes: 81_559 * MiB, bf16Flops: 989e12 },
  { name: "h100-pcie-80gb", label: "NVIDIA H100 80GB PCIe", memoryBytes: 81_559 * MiB, bf16Flops: 756e12 },
  { name: "h200-141gb", label: "NVIDIA H200 141GB", memoryBytes: 143_771 * MiB, bf16Flops: 989e12 },
  { name: "l40s-48gb", label: "NVIDIA L40S 48GB", memoryBytes: 46_068 * MiB, bf16Flops: 362e12 },
  // fp32 accumulation (what PyTorch's bf16 matmuls use); the 330 TFLOP/s figure is fp16 accumulation
  { name: "rtx4090-24gb", label: "NVIDIA GeForce RTX 4090", memoryBytes: 24_564 * MiB, bf16Flops: 165e12 },
];

/** The default `--gpu`: the card the paper's 8-GPU recipes are usually run on. */
export const DEFAULT_GPU = "h100-80gb";

/** The catalogue entry for `name`; a UsageError listing the names (with a suggestion) otherwise. */
export function gpuSpec(name: string): GpuSpec {
  const found = GPUS.find((g) => g.name === name.toLowerCase());
  if (found) return found;
  const names = GPUS.map((g) => g.name);
  const suggestion = closest(name, names);
  throw new UsageError(`unknown GPU "${name}"${suggestion ? ` (did you mean "${suggestion}"?)` : ""}`, {
    hint: `--gpu takes one of: ${names.join(", ")}`,
  });
}

/**
 * The catalogue entry for a device name as torch reports it ("NVIDIA H200", "NVIDIA A100-SXM4-80GB",
 * "NVIDIA H100 PCIe"): its chip token must occur in the name; memory (GiB, when known) picks between
 * sizes of one chip.
 */
export function gpuByDeviceName(device: string, memoryGiB?: number): GpuSpec | undefined {
  const key = device.toLowerCase().replace(/[^a-z0-9]/g, "");
  const chip = (g: GpuSpec) => (g.name.split("-")[0] ?? "").replace(/^rtx/, "");
  const pcie = key.includes("pcie");
  const candidates = GPUS.filter((g) => key.includes(chip(g)) && g.name.includes("pcie") === pcie);
  if (memoryGiB === undefined) return candidates[0];
  const gib = (g: GpuSpec) => g.memoryBytes / 2 ** 30;
  return candidates.sort((a, b) => Math.abs(gib(a) - memoryGiB) - Math.abs(gib(b) - memoryGiB))[0];
}

/**
 * The efficiency the time estimate uses: `--efficiency` when given, else the one measured by
 * bench/gpu (its results.json, committed at bench/gpu/results.json after a GPU run), else the
 * stated default. Measured efficiency = achieved TFLOP/s / the bench GPU's bf16 peak, taken from
 * the bench case of the same model family nearest in image size.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import type { ModelConfig } from "../config/schema.js";
import { gpuByDeviceName } from "./gpus.js";
import { DEFAULT_EFFICIENCY, type Efficiency } from "./time.js";

/** The fields of bench/gpu/gpu_bench.py's results.json read here. */
export const BenchResultsSchema = z
  .object({
    tiny: z.boolean(),
    env: z.object({ gpu: z.string().optional(), gpu_memory_gib: z.number().optional() }).loose(),
    matmul_tflops_measured: z.number().positive(),
    cases: z.array(
      z
        .object({
          model: z.string(),
          size: z.number(),
          status: z.string(),
          forward_tflops_achieved: z.number().nullable(),
          transition_tflops_achieved: z.number().nullable(),
        })
        .loose(),
    ),
  })
  .loose();

export type BenchResults = z.infer<typeof BenchResultsSchema>;

/** Where a GPU run of bench/gpu is kept. */
export function benchResultsFile(root: string): string {
  return join(root, "bench", "gpu", "results.json");
}

/** Efficiency from bench results for `family` at `side` px; null when they hold no usable GPU case. */
export function benchEfficiency(
  results: BenchResults,
  family: ModelConfig["family"],
  side: number,
): Efficiency | null {
  if (results.tiny) return null;
  const model = family === "flux" ? "flux" : "qwen";
  const ok = results.cases.filter((c) => c.model === model && c.status === "ok");
  const pick = (key: "forward_tflops_achieved" | "transition_tflops_achieved") =>
    ok.filter((c) => c[key] != null).sort((a, b) => Math.abs(a.size - side) - Math.abs(b.size - side))[0];
  const fwd = pick("forward_tflops_achieved");
  const train = pick("transition_tflops_achieved");
  if (!fwd || !train) return null;
  const gpu = results.env.gpu ? gpuByDeviceName(results.env.gpu, results.env.gpu_memory_gib) : undefined;
  // without a known data-sheet peak, the bench's own measured matmul rate stands in for it
  const peakTflops = gpu ? gpu.bf16Flops / 1e12 : results.matmul_tflops_measured;
  return {
    sampling: (fwd.forward_tflops_achieved as number) / peakTflops,
    training: (train.transition_tflops_achieved as number) / peakTflops,
    source: "bench",
    note: `measured by bench/gpu on ${results.env.gpu ?? "an unnamed GPU"} (${model}, ${fwd.size} px) against ${
      gpu
        ? `its ${peakTflops} TFLOP/s bf16 peak`
        : `its measured ${peakTflops.toFixed(0)} TFLOP/s matmul rate`
    }`,
  };
}

/** `--efficiency`, else bench/gpu/results.json under `root`, else the default. */
export function resolveEfficiency(
  root: string,
  family: ModelConfig["family"],
  side: number,
  flag?: number,
): Efficiency {
  if (flag !== undefined) {
    return { sampling: flag, training: flag, source: "flag", note: "given with --efficiency" };
  }
  const file = benchResultsFile(root);
  let why = `bench/gpu has not been run on a GPU (no ${join("bench", "gpu", "results.json")})`;
  if (existsSync(file)) {
    const parsed = BenchResultsSchema.safeParse(parseJson(readFileSync(file, "utf8")));
    const measured = parsed.success ? benchEfficiency(parsed.data, family, side) : null;
    if (measured) return measured;
    why = parsed.success
      ? `${file} has no GPU case for ${family}`
      : `${file} does not parse as gpu_bench.py output`;
  }
  return {
    sampling: DEFAULT_EFFICIENCY,
    training: DEFAULT_EFFICIENCY,
    source: "default",
    note: `assumed ${DEFAULT_EFFICIENCY * 100}% of the bf16 peak: ${why}`,
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

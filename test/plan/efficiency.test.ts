import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { benchResultsFile, resolveEfficiency } from "../../src/plan/efficiency.js";
import { gpuByDeviceName } from "../../src/plan/gpus.js";
import { DEFAULT_EFFICIENCY } from "../../src/plan/time.js";

function rootWith(results: unknown): string {
  const root = mkdtempSync(join(tmpdir(), "arr-eff-"));
  const file = benchResultsFile(root);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(results));
  return root;
}

const gpuCase = (model: string, size: number, fwd: number, train: number) => ({
  model,
  size,
  status: "ok",
  forward_tflops_achieved: fwd,
  transition_tflops_achieved: train,
});

describe("efficiency", () => {
  it("is the stated default, and says so, when bench/gpu never ran on a GPU", () => {
    const e = resolveEfficiency(mkdtempSync(join(tmpdir(), "arr-eff-")), "flux", 512);
    expect(e).toMatchObject({
      sampling: DEFAULT_EFFICIENCY,
      training: DEFAULT_EFFICIENCY,
      source: "default",
    });
    expect(e.note).toMatch(/not been run on a GPU/);
  });

  it("is measured TFLOP/s over the bench GPU's bf16 peak, from the same family nearest in size", () => {
    const root = rootWith({
      tiny: false,
      env: { gpu: "NVIDIA H200", gpu_memory_gib: 139.8 },
      matmul_tflops_measured: 700,
      cases: [
        gpuCase("flux", 512, 395.6, 296.7),
        gpuCase("flux", 1024, 494.5, 445),
        gpuCase("qwen", 512, 100, 100),
      ],
    });
    const e = resolveEfficiency(root, "flux", 640);
    expect(e.source).toBe("bench");
    expect(e.sampling).toBeCloseTo(395.6 / 989, 9);
    expect(e.training).toBeCloseTo(296.7 / 989, 9);
  });

  it("ignores tiny CPU results and a flag wins over everything", () => {
    const root = rootWith({
      tiny: true,
      env: {},
      matmul_tflops_measured: 1,
      cases: [gpuCase("flux", 64, 1, 1)],
    });
    expect(resolveEfficiency(root, "flux", 512).source).toBe("default");
    expect(resolveEfficiency(root, "flux", 512, 0.3)).toMatchObject({
      sampling: 0.3,
      training: 0.3,
      source: "flag",
    });
  });

  it("maps torch device names to the catalogue", () => {
    expect(gpuByDeviceName("NVIDIA H200")?.name).toBe("h200-141gb");
    expect(gpuByDeviceName("NVIDIA A100-SXM4-40GB", 39.4)?.name).toBe("a100-40gb");
    expect(gpuByDeviceName("NVIDIA H100 PCIe")?.name).toBe("h100-pcie-80gb");
    expect(gpuByDeviceName("NVIDIA GeForce RTX 4090")?.name).toBe("rtx4090-24gb");
    expect(gpuByDeviceName("Tesla T4")).toBeUndefined();
  });
});

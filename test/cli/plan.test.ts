import { describe, expect, it } from "vitest";
import { runArr } from "../support/cli.js";

describe("arr plan / arr train --dry-run", () => {
  it("train --dry-run prints the plan and exits without training: 2048 px without checkpointing does not fit", async () => {
    const r = await runArr([
      "train",
      "--dry-run",
      "--preset",
      "flux-rpo-8gpu",
      "--set",
      "train.sampler.height=2048",
      "--set",
      "train.sampler.width=2048",
      "--set",
      "train.gradient_checkpointing=false",
      "--gpu",
      "h100-80gb",
    ]);
    expect(r.err).not.toMatch(/arr: /);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^arr plan: flux \(black-forest-labs\/FLUX\.1-dev\) on 8 x NVIDIA H100 80GB SXM/);
    expect(r.out).toMatch(/verdict: does NOT fit/);
    expect(r.out).toMatch(/- activations, every block saved/);
  }, 600_000);

  it("rejects an unknown GPU with the list of known ones", async () => {
    const r = await runArr(["plan", "--preset", "flux-rpo-8gpu", "--gpu", "h100"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown GPU "h100" \(did you mean "h100-80gb"\?\)/);
  });
});

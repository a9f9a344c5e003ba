import { describe, expect, it } from "vitest";
import { trainedSteps, updateWork } from "../../src/plan/time.js";

const eff = { sampling: 0.5, training: 0.25, source: "flag" as const, note: "" };
const forward = { linear: 8, attention: 1, lora: 1, total: 10 };
const transition = { reference: 10, forward: 10, recompute: 10, backward: 10, total: 40 };

describe("update work", () => {
  it("trains floor((S - 1) x fraction) transitions, the last never", () => {
    expect(trainedSteps(8, 1)).toBe(7);
    expect(trainedSteps(10, 0.6)).toBe(5);
    expect(trainedSteps(2, 0.4)).toBe(0);
  });

  it("counts passes and FLOPs per GPU: P prompts x C candidates, S forwards and T transitions each", () => {
    const u = updateWork({
      promptsPerGpu: 1,
      gradAccum: 8,
      candidates: 2,
      steps: 8,
      timestepFraction: 1,
      forward,
      transition,
      encodeFlops: 5,
      peakFlops: 100,
      efficiency: eff,
    });
    expect(u.samples).toBe(16);
    expect(u.forwards).toEqual({ sampling: 128, reference: 112, training: 112 });
    expect(u.flops).toEqual({
      textEncoding: 40,
      sampling: 1280,
      reference: 1120,
      training: 3360,
      total: 5800,
    });
    // inference runs at 50 FLOP/s, training at 25
    expect(u.seconds.sampling).toBe(1280 / 50);
    expect(u.seconds.training).toBe(3360 / 25);
    expect(u.seconds.total).toBeCloseTo((40 + 1280 + 1120) / 50 + 3360 / 25, 9);
  });
});

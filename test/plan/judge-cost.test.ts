import { describe, expect, it } from "vitest";
import {
  ASSUMED_COMPLETION_TOKENS,
  CHAT_TEMPLATE_TOKENS,
  JUDGE_WAIT_SHARE,
  type JudgeInput,
  judgeCost,
  judgeTextTokens,
  sentSize,
} from "../../src/plan/judge-cost.js";

const qwen3 = { patch: 16, merge: 2, minPixels: 65_536, maxPixels: 16_777_216 };
const input: JudgeInput = {
  provider: "openai-compatible",
  model: "Qwen/Qwen3-VL-8B-Instruct",
  order: "swap",
  task: "t2i",
  language: "en",
  candidates: 2,
  imageSize: [512, 512],
  sourceSize: null,
  processor: qwen3,
  rubricText: null,
  taskDescription: null,
  completionCap: 1024,
  price: { input_per_mtok: 0.5, output_per_mtok: 2 },
  promptsPerUpdate: 64,
  updates: 300,
  updateSeconds: 40,
};

describe("judge cost", () => {
  it("calls per update are prompts x orders", () => {
    expect(judgeCost(input).callsPerUpdate).toBe(128);
    expect(judgeCost({ ...input, order: "single" }).callsPerUpdate).toBe(64);
    expect(judgeCost({ ...input, order: "random" }).callsPerUpdate).toBe(64);
  });

  it("prompt tokens are images x (vision tokens + 2) + text; cost is tokens x price per million", () => {
    const c = judgeCost(input);
    const text = judgeTextTokens(input);
    expect(c.imageTokensPerImage).toBe(256);
    expect(c.perCall).toEqual({ prompt: 2 * 258 + text, completion: ASSUMED_COMPLETION_TOKENS });
    expect(c.perUpdate?.prompt).toBe(128 * (2 * 258 + text));
    expect(c.perRun?.completion).toBe(300 * 128 * ASSUMED_COMPLETION_TOKENS);
    const perUpdate = c.perUpdate as { prompt: number; completion: number };
    expect(c.costPerUpdate).toBeCloseTo((perUpdate.prompt * 0.5 + perUpdate.completion * 2) / 1e6, 12);
    expect(c.costPerRun).toBeCloseTo(300 * (c.costPerUpdate as number), 9);
  });

  it("an edit adds the source image; a rubric adds its text", () => {
    const edit = judgeCost({ ...input, task: "edit", sourceSize: [1024, 1024] });
    expect(edit.imagesPerCall).toBe(3);
    expect(edit.sourceImageTokens).toBe(1024);
    const rubric = `1. ${"The subject is sharp and well lit. ".repeat(20)}`;
    expect(judgeTextTokens({ ...input, rubricText: rubric }) - judgeTextTokens(input)).toBeGreaterThanOrEqual(
      Math.floor(rubric.length / 4),
    );
    expect(judgeTextTokens(input)).toBeGreaterThan(CHAT_TEMPLATE_TOKENS + 300 / 4);
  });

  it("the needed throughput finishes an update's judging in 10% of the update", () => {
    const c = judgeCost(input);
    expect(c.needed.budgetSeconds).toBe(JUDGE_WAIT_SHARE * 40);
    expect(c.needed.callsPerSecond).toBeCloseTo(128 / 4, 9);
    expect(c.needed.promptTokensPerSecond).toBeCloseTo((c.perUpdate?.prompt as number) / 4, 9);
  });

  it("an unknown model family has no token figures and says how to supply them", () => {
    const c = judgeCost({ ...input, model: "gpt-4.1", processor: null });
    expect(c.perCall).toBeNull();
    expect(c.costPerRun).toBeNull();
    expect(c.notes.join("\n")).toMatch(/--judge-processor/);
  });

  it("the referee costs nothing", () => {
    expect(judgeCost({ ...input, provider: "referee" })).toMatchObject({ costPerRun: 0, perCall: null });
  });

  it("images are sent with the longer side capped at max_side", () => {
    expect(sentSize(2048, 1024, 1024)).toEqual([1024, 512]);
    expect(sentSize(512, 512, 1024)).toEqual([512, 512]);
    expect(sentSize(2048, 2048, null)).toEqual([2048, 2048]);
  });
});

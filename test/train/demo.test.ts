/**
 * The demo, run for real on the embedded default (tiny-cpu, the offline referee, 2 CPU workers):
 * learning is shown by measurement. The trained LoRA must beat the base model on held-out prompts
 * in at least 70% of judgements (same seeds, both orders, same judge), and the control trained with
 * every verdict reversed must not, so the figure comes from the judge and not from training noise.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DemoResult, reversedJudge, runDemo } from "../../src/demo/demo.js";
import type { PairJudge } from "../../src/train/reward-service.js";

let out: string;
let result: DemoResult;
const stages: string[] = [];

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), "arr-demo-"));
  result = await runDemo({ outputDir: out, onStage: (stage) => stages.push(stage) });
}, 600_000);
afterAll(() => rm(out, { recursive: true, force: true }));

describe("arr demo (runDemo on tiny-cpu)", () => {
  it("runs every stage into one demo directory, with a judge that says it is rule-based", async () => {
    expect(stages).toEqual(["judge", "induce", "evaluate", "train", "winrate", "control", "report"]);
    expect(result.dir.startsWith(join(out, "demo-"))).toBe(true);
    expect(result.judge).toEqual({ provider: "referee", model: "arr-referee", ruleBased: true });
    for (const path of [
      result.rubric.file,
      result.evaluation.report,
      result.training.report,
      result.files.report,
    ]) {
      expect(path.startsWith(result.dir), path).toBe(true);
      expect(existsSync(path), path).toBe(true);
    }
    expect(await readFile(result.files.report, "utf8")).toContain("It is not a VLM");
  });

  it("induces a rubric naming the seeds' hidden preference, which helps the judge on held-out pairs", async () => {
    const rubric = await readFile(result.rubric.file, "utf8");
    expect(rubric).toMatch(/warm/i);
    expect(rubric).toMatch(/contrast/i);
    expect(result.rubric.passed).toBe(result.rubric.pairs);
    expect(result.evaluation.withRubric).toBeGreaterThanOrEqual(result.evaluation.direct);
    expect(result.evaluation.withRubric).toBeGreaterThanOrEqual(0.9);
    expect(result.evaluation.table).toContain("+ARR");
  });

  it("the trained LoRA beats the base model in >= 70% of held-out judgements; the reversed control does not", async () => {
    expect(result.training.updates).toBe(20);
    expect(result.training.stopReason).toBeNull();
    const w = result.winrate;
    expect(w).not.toBeNull();
    if (!w) return;
    expect(w.prompts).toBe(32);
    // Every prompt is judged in both orders: the counts add up to 32 per order.
    expect(w.forward.a + w.forward.b + w.forward.undecided).toBe(32);
    expect(w.reverse.a + w.reverse.b + w.reverse.undecided).toBe(32);
    expect(w.rate).toBeGreaterThanOrEqual(0.7);
    expect(w.lora.startsWith(join(result.training.runDir, "checkpoints"))).toBe(true);
    const control = result.control?.winrate;
    expect(control).toBeTruthy();
    expect(control?.rate ?? 1).toBeLessThan(0.5);

    // The figure is stored, not only printed.
    const stored = JSON.parse(await readFile(result.files.summary, "utf8")) as DemoResult;
    expect(stored.winrate?.rate).toBe(w.rate);
    const pct = `${(100 * w.rate).toFixed(1)}%`;
    const report = await readFile(result.files.report, "utf8");
    expect(report).toContain(pct);
    // The control run is drawn on the same charts, its eval points measured by the unreversed judge.
    expect(report).toContain("control (verdicts reversed): win rate");
    expect(existsSync(result.training.report)).toBe(true);
  });
});

describe("reversedJudge", () => {
  it("mirrors decided rewards on the reward scale and leaves other outcomes alone", async () => {
    const verdicts: Array<Awaited<ReturnType<PairJudge["compare"]>>> = [
      { outcome: "decided", rewards: [1, -0.1], agreement: true, cached: false },
      { outcome: "tie", rewards: [0, 0], agreement: null, cached: false },
    ];
    const inner: PairJudge = { compare: async () => verdicts.shift() as (typeof verdicts)[number] };
    const judge = reversedJudge(inner, 1, -0.1);
    const input = { prompt: "p", candidates: ["a", "b"] };
    expect((await judge.compare(input)).rewards.map((r) => Number(r.toFixed(6)))).toEqual([-0.1, 1]);
    expect(await judge.compare(input)).toMatchObject({ outcome: "tie", rewards: [0, 0] });
  });
});

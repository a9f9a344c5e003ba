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
import { loadConfig } from "../../src/config/load.js";
import { type DemoResult, runDemo } from "../../src/demo/demo.js";

let out: string;
let result: DemoResult;
const stages: string[] = [];

// Two trainings and three evaluations on CPU: about 9 minutes at a load of 15 on 2 cores, so the
// limit only catches a hang.
beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), "arr-demo-"));
  result = await runDemo({ outputDir: out, onStage: (stage) => stages.push(stage) });
}, 1_800_000);
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

  it("the control differs only in the direction of every verdict: same scale, same first samples", async () => {
    const { config } = await loadConfig({ preset: "tiny-cpu" });
    if (!config.train) throw new Error("the tiny-cpu preset has a train section");
    const { win_reward: win, lose_reward: lose } = config.train.rpo;
    type Judgement = {
      rank: number;
      step: number;
      index: number;
      prompt: string;
      outcome: string;
      rewards: number[];
    };
    const read = async (runDir: string): Promise<Map<string, Judgement>> => {
      const rows = (await readFile(join(runDir, "judgements.jsonl"), "utf8"))
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map((line) => JSON.parse(line) as Judgement);
      const first = Math.min(...rows.map((r) => r.step));
      return new Map(rows.filter((r) => r.step === first).map((r) => [`${r.rank}/${r.index}`, r]));
    };
    const control = result.control;
    expect(control).toBeTruthy();
    if (!control) return;
    // Same seeds and the same initial weights: the first update judges the same images, so the
    // control's rewards must be the main run's with every decided verdict mirrored on the scale.
    const main = await read(result.training.runDir);
    const reversed = await read(control.runDir);
    expect([...reversed.keys()].sort()).toEqual([...main.keys()].sort());
    let decided = 0;
    for (const [key, m] of main) {
      const c = reversed.get(key) as Judgement;
      expect(c.prompt, key).toBe(m.prompt);
      expect(c.outcome, key).toBe(m.outcome);
      if (m.outcome !== "decided") {
        expect(c.rewards, key).toEqual(m.rewards);
        continue;
      }
      decided++;
      for (const [i, r] of m.rewards.entries()) expect(c.rewards[i], key).toBeCloseTo(win + lose - r, 12);
    }
    expect(decided).toBeGreaterThan(0);
  });
});

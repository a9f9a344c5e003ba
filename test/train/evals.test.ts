import { describe, expect, it } from "vitest";
import { wilsonInterval } from "../../src/eval/stats.js";
import { createEvalPoints, type EvalPoint, judgeEvalPoint, winrateJudgeOf } from "../../src/train/evals.js";
import type { RewardJudge } from "../../src/train/reward-service.js";
import type { WinrateJudge } from "../../src/train/winrate.js";

const point = (update: number): EvalPoint => ({
  update,
  grid: `/g/eval-${update}.png`,
  prompts: ["p0", "p1", "p2"],
  base: ["/b0.png", "/b1.png", "/b2.png"],
  current: ["/c0.png", "/c1.png", "/c2.png"],
  source_images: null,
});

/**
 * p0: the current image wins in both orders; p1: whatever is shown first wins (position bias);
 * p2: a tie. Records every call's candidates and order policy.
 */
function scripted(calls: Array<{ candidates: string[]; order?: string }>): WinrateJudge {
  return {
    async compare(input) {
      calls.push({
        candidates: input.candidates.map(String),
        ...(input.order ? { order: input.order } : {}),
      });
      if (input.prompt === "p2") return { outcome: "tie", winner: null };
      if (input.prompt === "p1") return { outcome: "decided", winner: 0, reason: "first" };
      return { outcome: "decided", winner: input.candidates.indexOf("/c0.png"), reason: "warmer" };
    },
  };
}

describe("judgeEvalPoint", () => {
  it("scores the current policy against the base per prompt over both orders, one order per call", async () => {
    const calls: Array<{ candidates: string[]; order?: string }> = [];
    const record = await judgeEvalPoint(point(4), scripted(calls));
    const scores = [1, 0.5, 0.5];
    expect(record.pairs.map((p) => p.score)).toEqual(scores);
    expect(record.rate).toBeCloseTo(2 / 3, 12);
    // Wilson over prompts, a tie counting as half a win (the win rate's interval).
    expect(record.interval).toEqual(wilsonInterval(2, 3));
    expect(record.forward).toEqual({ a: 2, b: 0, undecided: 1 });
    expect(record.reverse).toEqual({ a: 1, b: 1, undecided: 1 });
    expect(calls).toHaveLength(6);
    expect(calls.every((c) => c.order === "single")).toBe(true);
    expect(calls.map((c) => c.candidates)).toContainEqual(["/c1.png", "/b1.png"]);
    expect(calls.map((c) => c.candidates)).toContainEqual(["/b1.png", "/c1.png"]);
    expect(record.pairs[1]).toMatchObject({
      prompt: "p1",
      current: "/c1.png",
      base: "/b1.png",
      forward: { outcome: "decided", preferred: "a", reason: "first" },
      reverse: { outcome: "decided", preferred: "b", reason: "first" },
    });
    expect(record.pairs[2]?.forward).toEqual({ outcome: "tie", preferred: null, reason: null });
  });
});

describe("winrateJudgeOf", () => {
  it("takes the verdict's winner, else the highest reward; undecided verdicts name no winner", async () => {
    const replies: Array<Awaited<ReturnType<RewardJudge["compare"]>>> = [
      { outcome: "decided", rewards: [-1, 1], agreement: null, cached: false },
      {
        outcome: "decided",
        rewards: [1, -0.1],
        agreement: true,
        cached: false,
        winner: 0,
        reason: "sharper",
      },
      { outcome: "invalid", rewards: [0, 0], agreement: null, cached: false },
    ];
    const judge = winrateJudgeOf({ compare: async () => replies.shift() as (typeof replies)[number] });
    const input = { prompt: "p", candidates: ["a", "b"] };
    expect(await judge.compare(input)).toEqual({ outcome: "decided", winner: 1 });
    expect(await judge.compare(input)).toEqual({ outcome: "decided", winner: 0, reason: "sharper" });
    expect(await judge.compare(input)).toEqual({ outcome: "invalid", winner: null });
  });
});

describe("createEvalPoints", () => {
  it("reports each judged point, logs bad events and judge failures, and drops points of an abandoned group", async () => {
    const logs: string[] = [];
    const seen: number[] = [];
    let fail = false;
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const base = scripted([]);
    const evals = createEvalPoints({
      judge: {
        compare: async (input) => {
          if (fail) throw new Error("VLM down");
          if (input.candidates.some((c) => String(c).includes("/6/"))) await held;
          return base.compare(input);
        },
      },
      onRecord: (r) => seen.push(r.update),
      onLog: (line) => logs.push(line),
    });
    const at = (update: number, dir = ""): EvalPoint => {
      const p = point(update);
      return { ...p, base: p.base.map((b) => `${dir}${b}`), current: p.current.map((c) => `${dir}${c}`) };
    };
    evals.add(at(2));
    evals.add(at(4));
    evals.add({ ...point(5), base: ["/b0.png"] });
    await evals.settled();
    // Update 6 is still being judged when the group restarts from the checkpoint at 4.
    evals.add(at(6, "/6"));
    evals.rewind(4);
    release();
    await evals.settled();
    fail = true;
    evals.add(at(8));
    await evals.settled();
    expect(seen.sort()).toEqual([2, 4]);
    expect(logs).toEqual([
      "eval event ignored: base and current need one image per prompt",
      "eval at update 8 not judged: VLM down",
    ]);
  });
});

/**
 * The win rate over a stand-in bridge and judge: each prompt is judged in both orders with the
 * verdict mapped back to A and B, ties count half, and the interval is the Wilson score interval
 * over prompts (never the degenerate [1, 1] of a bootstrap when A wins everything).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import type { TrainConfig } from "../../src/config/schema.js";
import type { Bridge } from "../../src/runtime/bridge.js";
import { type WinrateJudge, winrate } from "../../src/train/winrate.js";
import { fakeVerdict } from "../support/verdicts.js";

let dir: string;
let train: TrainConfig;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "arr-winrate-"));
  train = (await loadConfig({ preset: "tiny-cpu" })).config.train as TrainConfig;
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Samples nothing: image i of a model is named after its output folder (`.../a/` or `.../b/`). */
const bridge = {
  call: async (_op: string, args: { prompts: string[]; out_dir: string }) => ({
    images: args.prompts.map((_, i) => join(args.out_dir, `${i}.png`)),
  }),
} as unknown as Bridge;

/**
 * Prefers model A's image, except: prompts with "tie" give a tie, prompts with "first" pick
 * whatever is shown first (position bias), prompts with "b" prefer B.
 */
const judge: WinrateJudge = {
  async compare({ prompt, candidates }) {
    if (prompt.includes("tie")) return fakeVerdict({ outcome: "tie", ranking: null });
    const a = candidates.findIndex((c) => String(c).includes(`${join(dir, "a")}/`));
    const pick = prompt.includes("first") ? 0 : prompt.includes("b") ? 1 - a : a;
    return fakeVerdict({ outcome: "decided", ranking: pick === 0 ? [1, 2] : [2, 1] });
  },
};

const run = (prompts: string[]) =>
  winrate({
    bridge,
    judge,
    train,
    a: { lora: "/lora" },
    b: "base",
    prompts,
    outDir: dir,
  });

describe("winrate", () => {
  it("maps each order's verdict back to A and B, and scores ties and position bias as half", async () => {
    const r = await run(["p1", "p2", "tie", "first", "b"]);
    expect(r.forward).toEqual({ a: 3, b: 1, undecided: 1 });
    expect(r.reverse).toEqual({ a: 2, b: 2, undecided: 1 });
    // Per prompt: 1, 1, 0.5 (tie), 0.5 (first shown wins in each order), 0 (B).
    expect(r.rate).toBeCloseTo(3 / 5, 12);
    expect(r.prompts).toBe(5);
  });

  it("reports a Wilson interval that stays open when A wins every judgement", async () => {
    const prompts = Array.from({ length: 32 }, (_, i) => `prompt ${i}`);
    const r = await run(prompts);
    expect(r.rate).toBe(1);
    // 32/32 at 95%: lower bound n / (n + z^2) with z = 1.959964.
    expect(r.interval.low).toBeCloseTo(0.8928208, 6);
    expect(r.interval.high).toBe(1);
    expect(r.interval.level).toBe(0.95);
  });
});

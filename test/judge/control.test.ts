/**
 * The control judge (`reverseVerdicts`): the same judge, scale and policies, with every decided
 * verdict's direction turned around. Its reward stream must be exactly the main rule applied to the
 * reversed ranking, for pairs and for N candidates; ties and invalid verdicts are unchanged.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ImageEncodingSchema, JudgeSchema, VlmSchema } from "../../src/config/schema.js";
import { createJudge } from "../../src/judge/judge.js";
import type { RewardScale } from "../../src/judge/reward.js";
import type { CompareInput, Verdict } from "../../src/judge/types.js";
import { createVlmClient } from "../../src/vlm/client.js";
import { writeGrayLadder } from "../support/images.js";
import { type StandInOptions, type StandInVlm, startStandInVlm } from "../support/stand-in-vlm.js";

let dir: string;
let gray: string[]; // darkest first
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "arr-control-"));
  gray = await writeGrayLadder(dir, 6);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

let servers: StandInVlm[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

/** The main judge and its control over one stand-in, sharing one verdict cache like the demo's runs. */
async function judges(o: StandInOptions, judge: Record<string, unknown>, rewardScale: RewardScale) {
  const s = await startStandInVlm(o);
  servers.push(s);
  const vlm = createVlmClient(VlmSchema.parse({ model: "stand-in", base_url: s.url, max_retries: 0 }));
  const cacheDir = await mkdtemp(join(dir, "cache-"));
  const make = (reverseVerdicts: boolean) =>
    createJudge({
      vlm,
      config: JudgeSchema.parse({ reask: 0, ...judge }),
      image: ImageEncodingSchema.parse({}),
      rubric: { text: "1. The brighter image is better.", hash: "h1" },
      cacheDir,
      rewardScale,
      reverseVerdicts,
    });
  return { s, main: make(false), control: make(true) };
}

const input = (...idx: number[]): CompareInput => ({
  prompt: "a bright room",
  candidates: idx.map((i) => gray[i] as string),
});

/** The control's verdict against the main one, item by item. */
function expectReversed(main: Verdict, control: Verdict, scale: RewardScale): void {
  // What the judge said is recorded unchanged (the control asked nothing new: the cache answered).
  expect(control).toMatchObject({ outcome: main.outcome, ranking: main.ranking, winner: main.winner });
  expect(control.cached).toBe(true);
  if (main.outcome !== "decided") {
    expect(control.rewards).toEqual(main.rewards);
    return;
  }
  // The linear map mirrored on the configured scale: win <-> lose, and every rank in between.
  control.rewards.forEach((r, i) => {
    expect(r).toBeCloseTo(scale.win + scale.lose - (main.rewards[i] as number), 12);
  });
  const n = main.rewards.length;
  const best = main.rewards.indexOf(Math.max(...main.rewards));
  const worst = main.rewards.indexOf(Math.min(...main.rewards));
  expect(control.rewards[best]).toBe(scale.lose);
  expect(control.rewards[worst]).toBe(scale.win);
  expect(new Set(control.rewards).size).toBe(n);
}

describe("control judge (reverseVerdicts)", () => {
  // A scale whose midpoint is not 0.45, so mirroring around the default 1.0 / -0.1 would show.
  const scale: RewardScale = { win: 1, lose: -1 };

  it("reverses decided verdicts of 2 and N candidates on the configured scale", async () => {
    for (const s of [scale, { win: 2, lose: 0.5 }]) {
      const { main, control } = await judges({}, {}, s);
      for (const item of [
        input(1, 4),
        input(4, 1),
        input(2, 5, 0),
        input(2, 5, 0, 3),
        input(5, 4, 3, 2, 1),
      ]) {
        const m = await main.compare(item);
        expect(m.outcome).toBe("decided");
        expectReversed(m, await control.compare(item), s);
      }
    }
  });

  it("leaves ties (swap disagreement, both tie policies) and invalid verdicts as they are", async () => {
    for (const tie_policy of ["zero", "mean"] as const) {
      const { main, control } = await judges({ bias: { match: () => true } }, { tie_policy }, scale);
      for (const item of [input(0, 5), input(0, 3, 5)]) {
        const m = await main.compare(item);
        expect(m.outcome).toBe("tie");
        expectReversed(m, await control.compare(item), scale);
      }
    }
    const { main, control } = await judges({ style: "garbage" }, {}, scale);
    for (const item of [input(0, 5), input(0, 3, 5)]) {
      const m = await main.compare(item);
      expect(m).toMatchObject({ outcome: "invalid", rewards: item.candidates.map(() => 0) });
      // Invalid answers are cached like any other, so the control sees the very same verdict.
      expectReversed(m, await control.compare(item), scale);
    }
  });
});

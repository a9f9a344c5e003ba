/**
 * End to end against the stand-in VLM server (real HTTP, the real judge and client): a planted
 * position bias on a known set of items must show up in the forward/reverse table exactly.
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compare } from "../../src/eval/compare.js";
import { evaluate } from "../../src/eval/evaluate.js";
import type { EvalPair } from "../../src/eval/types.js";
import { solidPng, writeImage } from "../support/images.js";
import { type StandInVlm, standInJudge, startStandInVlm } from "../support/stand-in-vlm.js";

const N = 24;
/** Items whose prompt carries the marker get "first image shown is best" whatever they show. */
const PLANTED = new Set([0, 1, 2, 3, 4, 5, 6, 8, 10, 12]);
const MARK = "zq-planted";

let server: StandInVlm;
let pairs: EvalPair[];

beforeAll(async () => {
  server = await startStandInVlm({ rule: "brighter", bias: { match: (info) => info.text.includes(MARK) } });
  const dir = await mkdtemp(join(tmpdir(), "arr-eval-standin-"));
  pairs = [];
  for (let i = 0; i < N; i++) {
    const bright = await writeImage(dir, `bright-${i}.png`, await solidPng(200 + (i % 40)));
    const dark = await writeImage(dir, `dark-${i}.png`, await solidPng(30 + (i % 40)));
    // The human (and the pixel rule) prefer the brighter image; it comes first on even items.
    const brightFirst = i % 2 === 0;
    pairs.push({
      id: `item-${i}`,
      task: "t2i",
      prompt: `a picture number ${i}${PLANTED.has(i) ? ` ${MARK}` : ""}`,
      images: brightFirst ? [bright, dark] : [dark, bright],
      labelRank: brightFirst ? [1, 2] : [2, 1],
    });
  }
});

afterAll(async () => {
  await server?.close();
});

function judge(rubric: { text: string; hash: string } | null = null) {
  return standInJudge(server.url, rubric);
}

describe("evaluation against the stand-in VLM with a planted position bias", () => {
  it("forward, reverse, average and gap equal the planted behaviour exactly", async () => {
    const r = await evaluate({ judge: judge(), pairs, bootstrap: { seed: 3, resamples: 200 } });
    const planted = [...PLANTED];
    const p1 = planted.filter((i) => i % 2 === 0).length; // planted, human prefers the first image
    const p2 = planted.length - p1;
    const forward = (N - planted.length + p1) / N;
    const reverse = (N - planted.length + p2) / N;
    const byOrder = Object.fromEntries(r.summary.byOrder.map((o) => [o.order, o.accuracy]));
    expect(byOrder).toEqual({ forward, reverse });
    expect(r.summary.accuracy).toBe((2 * (N - planted.length) + planted.length) / (2 * N));
    expect(r.summary.accuracy).toBeCloseTo((forward + reverse) / 2, 12);
    expect(r.summary.gap).toBeCloseTo((p1 - p2) / N, 12);
    expect(r.summary.tieRate).toBe(0);
    expect(r.summary.invalidRate).toBe(0);
    expect(r.items.filter((it) => it.orderFlip).length).toBe(planted.length);
    expect(server.requests.filter((q) => q.biased).length).toBeGreaterThanOrEqual(2 * planted.length);
    expect(r.usage.calls).toBe(2 * N);
    expect(r.summary.ci.low).toBeLessThanOrEqual(r.summary.accuracy);
    expect(r.summary.ci.high).toBeGreaterThanOrEqual(r.summary.accuracy);
  });

  it("a failing server turns into invalid judgements counted as wrong", async () => {
    server.setScript(["http-500", "http-500"]);
    const r = await evaluate({
      judge: judge(),
      pairs: pairs.slice(13, 14),
      orders: ["forward"],
      concurrency: 1,
    });
    expect(r.summary.items).toBe(1);
    expect(r.summary.accuracy).toBe(0);
    expect(r.summary.invalidRate).toBe(1);
    server.setScript([]);
  });

  it("compares two judge variants on the same items", async () => {
    const cmp = await compare({
      pairs: pairs.slice(14),
      variants: [
        { name: "direct", judge: judge() },
        { name: "+rubric", judge: judge({ text: "1. Prefer the brighter image.", hash: "h1" }) },
      ],
      bootstrap: { resamples: 100 },
    });
    // Items 14..23 carry no planted bias, so both variants are always right.
    expect(cmp.rows.map((r) => r.result.summary.accuracy)).toEqual([1, 1]);
    expect(cmp.rows[1]?.test?.mcnemar.pValue).toBe(1);
    expect(cmp.rows[1]?.result.rubricHash).toBe("h1");
  });
});

import { describe, expect, it } from "vitest";
import { DatasetError, VlmError } from "../../src/errors.js";
import { compare, compareResults, formatComparisonTable } from "../../src/eval/compare.js";
import { evaluate, orderPermutation, scoreVerdict } from "../../src/eval/evaluate.js";
import type { EvalJudge, EvalPair } from "../../src/eval/types.js";
import { fakeVerdict } from "../support/verdicts.js";

/** Image "quality" by name: a judge that sees pixels correctly prefers the higher one. */
const QUALITY: Record<string, number> = { good: 2, bad: 1 };

/**
 * An in-process judge with a planted position bias: for prompts in `planted` it answers
 * "Image 1" whatever it is shown; otherwise it ranks correctly by quality.
 */
function plantedJudge(
  planted: Set<string>,
  calls: { candidates: string[]; order?: string }[] = [],
): EvalJudge {
  return {
    async compare(input) {
      const candidates = input.candidates.map(String);
      calls.push({ candidates, ...(input.order ? { order: input.order } : {}) });
      const q = candidates.map((c) => QUALITY[c.split("/").pop() as string] ?? 0);
      const ranking = planted.has(input.prompt) || (q[0] ?? 0) > (q[1] ?? 0) ? [1, 2] : [2, 1];
      return fakeVerdict({
        outcome: "decided",
        ranking,
        reason: `picked image ${ranking.indexOf(1) + 1}`,
        usage: { promptTokens: 100, completionTokens: 10 },
      });
    },
  };
}

/** n items; item i shows the good image first when i is even (label [1,2]), else second ([2,1]). */
function items(n: number, category?: (i: number) => string): EvalPair[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `item-${i}`,
    task: "t2i" as const,
    prompt: `prompt ${i}`,
    images: i % 2 === 0 ? ["/x/good", "/x/bad"] : ["/x/bad", "/x/good"],
    labelRank: i % 2 === 0 ? [1, 2] : [2, 1],
    ...(category ? { category: category(i) } : {}),
  }));
}

describe("evaluate with a planted position bias", () => {
  it("forward, reverse, average and gap equal what the planted behaviour implies", async () => {
    const n = 40;
    const pairs = items(n);
    // Planted on items 0..11: 6 with label [1,2] (even) and 6 with label [2,1] (odd), plus items 12,14,16,18 (label [1,2]).
    const plantedIds = [...Array.from({ length: 12 }, (_, i) => i), 12, 14, 16, 18];
    const planted = new Set(plantedIds.map((i) => `prompt ${i}`));
    const calls: { candidates: string[]; order?: string }[] = [];
    const r = await evaluate({
      judge: plantedJudge(planted, calls),
      pairs,
      bootstrap: { seed: 1, resamples: 300 },
    });

    const p = plantedIds.length; // 16
    const p1 = plantedIds.filter((i) => i % 2 === 0).length; // planted with label [1,2]: 10
    const p2 = p - p1; // 6
    const fwd = (n - p + p1) / n;
    const rev = (n - p + p2) / n;
    const byOrder = Object.fromEntries(r.summary.byOrder.map((o) => [o.order, o.accuracy]));
    expect(byOrder.forward).toBe(fwd);
    expect(byOrder.reverse).toBe(rev);
    expect(r.summary.accuracy).toBe((2 * (n - p) + p) / (2 * n));
    expect(r.summary.accuracy).toBeCloseTo((fwd + rev) / 2, 12);
    expect(r.summary.gap).toBeCloseTo(fwd - rev, 12);
    expect(r.summary.gap).toBeCloseTo((p1 - p2) / n, 12);
    // Every planted item flips between orders; nothing else does.
    expect(r.summary.flipRate).toBe(p / n);
    expect(r.items.filter((it) => it.orderFlip).map((it) => it.id)).toEqual(
      plantedIds.map((i) => `item-${i}`),
    );
    // Each order was judged once per item with the single policy on explicitly permuted candidates.
    expect(calls).toHaveLength(2 * n);
    expect(calls.every((c) => c.order === "single")).toBe(true);
    expect(calls.filter((c) => c.candidates[0] === "/x/good")).toHaveLength(n);
    // Intervals contain the point estimates.
    expect(r.summary.ci.low).toBeLessThanOrEqual(r.summary.accuracy);
    expect(r.summary.ci.high).toBeGreaterThanOrEqual(r.summary.accuracy);
    expect(r.usage).toMatchObject({ calls: 80, cacheHits: 0, promptTokens: 8000, completionTokens: 800 });
  });

  it("counts ties, invalid verdicts and failed calls as wrong, never dropping them", async () => {
    const pairs = items(4);
    let k = 0;
    const judge: EvalJudge = {
      async compare() {
        const i = k++;
        if (i === 0) return fakeVerdict({ outcome: "tie", ranking: null, reason: "equal" });
        if (i === 1) return fakeVerdict({ outcome: "invalid", ranking: null, reason: "garbage" });
        if (i === 2) throw new VlmError("server down", { retriable: true });
        return fakeVerdict({ outcome: "decided", ranking: [1, 1], reason: "not a permutation" });
      },
    };
    const r = await evaluate({ judge, pairs, orders: ["forward"], concurrency: 1 });
    expect(r.summary.items).toBe(4);
    expect(r.summary.accuracy).toBe(0);
    expect(r.summary.tieRate).toBe(0.25);
    expect(r.summary.invalidRate).toBe(0.75);
    expect(r.summary.gap).toBeNull();
    expect(r.items[2]?.orders[0]?.outcome).toBe("error");
  });

  it("breaks accuracy down by category", async () => {
    const pairs = items(8, (i) => (i < 4 ? "alpha" : "beta"));
    const planted = new Set(["prompt 4", "prompt 5", "prompt 6", "prompt 7"]);
    const r = await evaluate({ judge: plantedJudge(planted), pairs, bootstrap: { resamples: 100 } });
    expect(r.categories.alpha?.accuracy).toBe(1);
    expect(r.categories.beta?.accuracy).toBe(0.5);
    expect(r.categories.beta?.gap).toBe(0);
  });

  it("a missing label is a DatasetError naming item and field, or a counted skip; tie labels are excluded", async () => {
    const pairs: EvalPair[] = [
      ...items(2),
      { id: "nolabel", task: "t2i", prompt: "p", images: ["/x/good", "/x/bad"] },
    ];
    await expect(evaluate({ judge: plantedJudge(new Set()), pairs })).rejects.toThrow(
      /item "nolabel" field label_rank/,
    );
    await expect(evaluate({ judge: plantedJudge(new Set()), pairs })).rejects.toBeInstanceOf(DatasetError);
    const withTie: EvalPair[] = [
      ...pairs,
      { id: "tie", task: "t2i", prompt: "q", images: ["/x/good", "/x/bad"], labelRank: [1, 1] },
    ];
    const r = await evaluate({ judge: plantedJudge(new Set()), pairs: withTie, skipBad: true });
    expect(r.summary.items).toBe(2);
    expect(r.skipped).toEqual([{ id: "nolabel", field: "label_rank", reason: "missing human label" }]);
    expect(r.excluded.map((e) => e.id)).toEqual(["tie"]);
  });

  it("maps verdicts on reversed candidates back to the dataset order", () => {
    expect(orderPermutation("reverse", 3)).toEqual([2, 1, 0]);
    const v = { outcome: "decided" as const, ranking: [1, 2, 3] };
    expect(scoreVerdict(v, [2, 1, 0], [3, 2, 1])).toEqual({
      outcome: "decided",
      predictedRank: [3, 2, 1],
      correct: true,
    });
    expect(scoreVerdict(v, [0, 1, 2], [3, 2, 1]).correct).toBe(false);
  });
});

describe("compare", () => {
  it("tabulates variants against the first row with a paired test", async () => {
    const n = 60;
    const pairs = items(n);
    // Baseline planted on 30 items, variant on 10 of those: the variant fixes 20 items in one order each.
    const base = new Set(Array.from({ length: 30 }, (_, i) => `prompt ${i}`));
    const better = new Set(Array.from({ length: 10 }, (_, i) => `prompt ${i}`));
    const cmp = await compare({
      pairs,
      variants: [
        { name: "direct", judge: plantedJudge(base) },
        { name: "+ARR", judge: plantedJudge(better) },
      ],
      bootstrap: { seed: 2, resamples: 300 },
    });
    const [a, b] = cmp.rows;
    if (!a || !b?.delta) throw new Error("expected two rows");
    expect(a.delta).toBeNull();
    expect(b?.delta?.accuracy).toBeCloseTo(b.result.summary.accuracy - a.result.summary.accuracy, 12);
    // Planted items are right in exactly one order, so the variant gains 20 judgements and loses none.
    expect(b?.test?.mcnemar).toMatchObject({ aOnly: 0, bOnly: 20 });
    expect(b?.test?.mcnemar.pValue).toBeCloseTo(2 * 0.5 ** 20, 15);
    expect(b?.test?.significant).toBe(true);
    expect(b?.test?.difference.low).toBeGreaterThan(0);
    const table = formatComparisonTable(cmp);
    expect(table.split("\n")[0]).toMatch(/Judge\s+Forward\s+Reverse\s+Avg\s+Gap/);
    expect(table).toContain("+ARR");
    expect(table).toContain(`(+${(100 * b.delta.accuracy).toFixed(1)})`);
    // The same results compared again give the same numbers (deterministic seeds).
    const again = compareResults(
      [
        { name: "direct", result: a.result },
        { name: "+ARR", result: b.result },
      ],
      { seed: 2, resamples: 300 },
    );
    expect(again.rows[1]?.test).toEqual(b?.test);
  });
});

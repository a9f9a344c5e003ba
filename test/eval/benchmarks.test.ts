/**
 * Each benchmark adapter end to end: files in the upstream layouts (test/support/
 * benchmark_fixtures.py), the real judge over HTTP, and the stand-in VLM that prefers the brighter
 * image. The accuracies below are counted by hand from the gray levels in that script.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDataset } from "../../src/data/benchmarks/index.js";
import { evaluate } from "../../src/eval/evaluate.js";
import { renderReportHtml } from "../../src/eval/report.js";
import { makeBenchmarkFixtures } from "../support/benchmark-fixtures.js";
import { type StandInVlm, standInJudge, startStandInVlm } from "../support/stand-in-vlm.js";

let root: string;
let server: StandInVlm;

beforeAll(async () => {
  [root, server] = await Promise.all([makeBenchmarkFixtures(), startStandInVlm({ rule: "brighter" })]);
}, 600_000);

afterAll(async () => {
  await server?.close();
});

function judge() {
  return standInJudge(server.url);
}

async function run(path: string, options: { skipBad?: boolean } = {}) {
  const data = await loadDataset(path, null, { imageCacheDir: join(root, "images"), ...options });
  const result = await evaluate({ judge: judge(), pairs: data.pairs, bootstrap: { resamples: 50 } });
  return { data, result };
}

describe("benchmarks judged by a judge whose answers are known", () => {
  it("MMRB2 t2i: 3 of 4 in each order (t2i_2's human prefers the darker image)", async () => {
    const { result } = await run(join(root, "mmrb2", "t2i"));
    expect(result.summary.byOrder.map((o) => o.accuracy)).toEqual([0.75, 0.75]);
    expect(result.categories.evalmuse?.accuracy).toBe(0.5);
  });

  it("MMRB2 edit: every input image reaches the judge as Image BASE k, in order; 2 of 3", async () => {
    const before = server.requests.length;
    const { data, result } = await run(join(root, "mmrb2", "edit"));
    expect(result.summary.accuracy).toBeCloseTo(2 / 3, 12);
    const sent = server.requests.slice(before).map((r) => r.info);
    const multi = sent.filter((i) => i.baseHashes.length === 2);
    expect(multi).toHaveLength(2); // edit_1, in both orders
    expect(multi[0]?.text).toMatch(
      /Image BASE 1 \(original input 1 of 2\):[\s\S]*Image BASE 2 \(original input 2 of 2\):/,
    );
    expect(multi[0]?.text).toMatch(/Images BASE 1\.\.2 are the 2 original input images/);
    const single = sent.find((i) => i.baseHashes.length === 1);
    expect(single?.text).toContain("Image BASE (original, before editing):");
    expect(single?.text).not.toContain("Image BASE 1");
    const html = await renderReportHtml(
      { results: [result], dataset: { file: "edit", format: data.format, notes: data.notes ?? {} } },
      async () => null,
    );
    expect(html).toContain("responses with several images (first judged): 1");
    expect(html).toContain("source 2");
  });

  it("EditReward-Bench: per comparison and per group, per subset, the cycle counted not scored", async () => {
    const { result } = await run(join(root, "editreward-bench"));
    // Two orders each: comparisons and groups are counted once per order.
    expect(result.categories["2pair"]?.pairwise).toEqual({
      comparisons: 6,
      comparisonsCorrect: 4, // 103 is a tie label; the judge always decides
      comparisonAccuracy: 4 / 6,
      groups: 3,
      groupsCorrect: 4,
      groupAccuracy: 4 / 6,
      inconsistentGroups: 0,
    });
    expect(result.categories["3pair"]?.pairwise).toMatchObject({
      comparisons: 12,
      comparisonsCorrect: 10, // 202's B=C tie is missed
      groupAccuracy: 0.5,
    });
    expect(result.categories["4pair"]?.pairwise).toMatchObject({
      comparisons: 24,
      comparisonsCorrect: 20, // 301's cycle: A>B and B>C are against the brightness order
      groups: 1,
      groupAccuracy: 1,
      inconsistentGroups: 1,
    });
    expect(result.summary.pairwise).toMatchObject({
      comparisonAccuracy: 34 / 42,
      groupAccuracy: 8 / 12,
      inconsistentGroups: 1,
    });
    expect(result.summary.items).toBe(6);
    const html = await renderReportHtml({ results: [result] }, async () => null);
    expect(html).toContain("Pairwise labels: per comparison and per group");
    expect(html).toContain("no order (inconsistent pairwise labels)");
  });

  it("HPDv3 under --skip-bad: the two complete items, one right", async () => {
    const { data, result } = await run(join(root, "hpdv3", "test.json"), { skipBad: true });
    expect(data.skipped).toHaveLength(1);
    expect(result.summary.items).toBe(2);
    expect(result.summary.accuracy).toBe(0.5);
  });
});

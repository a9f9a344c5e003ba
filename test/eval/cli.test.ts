/** `arr eval` end to end: config file, stand-in VLM, dataset fixture, outputs on disk. */
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runArr } from "../support/cli.js";
import { type StandInVlm, startStandInVlm } from "../support/stand-in-vlm.js";

const FIX = resolve(import.meta.dirname, "../fixtures/eval");
let server: StandInVlm;
let dir: string;
let config: string;

beforeAll(async () => {
  // The HPDv3 fixture's preferred images (red, blue, green) are darker than the others except blue
  // vs black, so "darker is better" gets items 0 and 2 right in both orders and item 1 wrong.
  server = await startStandInVlm({ rule: "darker" });
  dir = await mkdtemp(join(tmpdir(), "arr-eval-cli-"));
  config = join(dir, "arr.yaml");
  await writeFile(
    config,
    `vlm:\n  model: stand-in\n  base_url: ${server.url}\n  max_retries: 0\n  structured_output: json_object\njudge:\n  cache_dir: null\n`,
  );
  await writeFile(
    join(dir, "rubric.json"),
    JSON.stringify({
      format: "autorubric.rubric",
      version: 1,
      task: "t2i",
      criteria: ["Prefer darker images."],
    }),
  );
});

afterAll(async () => {
  await server?.close();
});

describe("arr eval", () => {
  it("compares direct vs a rubric file and writes the report, results and verdicts", async () => {
    const out = join(dir, "cmp");
    const r = await runArr([
      "eval",
      "--config",
      config,
      "--dataset",
      join(FIX, "hpdv3-test.json"),
      "--format",
      "hpdv3",
      "--compare",
      "--no-rubrics",
      "--rubrics",
      `dark=${join(dir, "rubric.json")}`,
      "--out",
      out,
      "--resamples",
      "100",
      "--no-progress",
    ]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const lines = r.out.split("\n");
    expect(lines[0]).toMatch(/^Judge\s+Forward\s+Reverse\s+Avg\s+Gap/);
    expect(lines[2]).toMatch(/^direct\s+66\.7\s+66\.7\s+66\.7\s+0\.0\s/);
    expect(lines[3]).toMatch(/^dark\s+66\.7 \(\+0\.0\)/);
    const results = JSON.parse(await readFile(join(out, "results.json"), "utf8"));
    expect(results.variants.map((v: { variant: string }) => v.variant)).toEqual(["direct", "dark"]);
    expect(results.variants[1].rubric.text).toContain("Prefer darker images.");
    const verdicts = (await readFile(join(out, "verdicts.jsonl"), "utf8")).trim().split("\n");
    expect(verdicts).toHaveLength(2 * 2 * 3);
    expect(await readFile(join(out, "report.html"), "utf8")).toContain('class="card"');
  });

  it("usage errors: several variants without --compare, a bad order list, a bad item", async () => {
    const base = ["eval", "--config", config, "--dataset", join(FIX, "hpdv3-test.json"), "--format", "hpdv3"];
    const two = await runArr([...base, "--no-rubrics", "--rubrics", join(dir, "rubric.json")]);
    expect(two.code).toBe(2);
    expect(two.err).toMatch(/2 rubric variants given without --compare/);
    const orders = await runArr([...base, "--orders", "forward,sideways"]);
    expect(orders.code).toBe(2);
    expect(orders.err).toMatch(/--orders forward,sideways/);
    const bad = [
      "eval",
      "--config",
      config,
      "--dataset",
      join(FIX, "hpdv3-missing-path2.json"),
      "--format",
      "hpdv3",
    ];
    const failed = await runArr([...bad, "--out", join(dir, "bad")]);
    expect(failed.code).toBe(2);
    expect(failed.err).toMatch(/item "hpdv3-missing-path2.json#1" field path2/);
    const skipped = await runArr([
      ...bad,
      "--skip-bad",
      "--json",
      "--resamples",
      "50",
      "--out",
      join(dir, "skip"),
    ]);
    expect(skipped.code).toBe(0);
    const json = JSON.parse(skipped.out);
    expect(json.table[0].summary.items).toBe(1);
    const results = JSON.parse(await readFile(join(dir, "skip", "results.json"), "utf8"));
    expect(results.variants[0].skipped.map((s: { field: string }) => s.field)).toEqual(["path2", "path2"]);
  });
});

import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runArr } from "../support/cli.js";
import { writeGrayLadder } from "../support/images.js";
import { type StandInVlm, startStandInVlm } from "../support/stand-in-vlm.js";

let dir: string;
let server: StandInVlm;
let config: string;
let pairsFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "arr-cli-judge-"));
  const g = await writeGrayLadder(join(dir, "img"), 4);
  server = await startStandInVlm();
  config = join(dir, "arr.yaml");
  await writeFile(
    config,
    [
      "vlm:",
      "  model: stand-in",
      `  base_url: ${server.url}`,
      "  max_retries: 0",
      "judge:",
      "  cache_dir: cache",
      "",
    ].join("\n"),
  );
  pairsFile = join(dir, "pairs.jsonl");
  const rows = [
    {
      id: "p0",
      query: "bright",
      response: [g[0], g[3]].map((p) => p?.replace(`${dir}/`, "")),
      label_rank: [2, 1],
    },
    {
      id: "p1",
      query: "bright",
      response: [g[2], g[1]].map((p) => p?.replace(`${dir}/`, "")),
      label_rank: [1, 2],
    },
  ];
  await writeFile(pairsFile, rows.map((r) => JSON.stringify(r)).join("\n"));
});

afterAll(async () => {
  await server.close();
});

const arr = (...args: string[]) => runArr(args);

describe("arr judge", () => {
  it("judges pairs, writes verdicts as JSONL and prints a JSON summary; a rerun is free", async () => {
    const out = join(dir, "verdicts.jsonl");
    const r = await arr("judge", "--config", config, "--pairs", pairsFile, "--out", out, "--json");
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.out);
    expect(summary).toMatchObject({
      judged: 2,
      decided: 2,
      ties: 0,
      invalid: 0,
      order_agreement: 1,
      calls: 4,
    });
    const lines = (await readFile(out, "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    const byId = Object.fromEntries(lines.map((l) => [l.id, l]));
    expect(byId.p0).toMatchObject({ ranking: [2, 1], label_rank: [2, 1], rewards: [-0.1, 1] });
    expect(byId.p1).toMatchObject({ ranking: [1, 2], label_rank: [1, 2] });
    expect(r.err).toContain("zero-shot");

    const before = server.requests.length;
    const again = await arr("judge", "--config", config, "--pairs", pairsFile, "--json");
    expect(JSON.parse(again.out)).toMatchObject({ calls: 0, cache_hits: 4, decided: 2 });
    expect(server.requests.length).toBe(before);
  });

  it("prints a readable summary and stops on a bad pairs file with exit code 2", async () => {
    const ok = await arr("judge", "--config", config, "--pairs", pairsFile);
    expect(ok.out).toMatch(/decided 2 \(100\.0%\) · ties 0/);
    expect(ok.out).toMatch(/order agreement 100\.0% of 2/);
    const bad = join(dir, "bad.json");
    await writeFile(bad, JSON.stringify([{ query: "x", response: ["img/missing.png", "img/missing2.png"] }]));
    const r = await arr("judge", "--config", config, "--pairs", bad);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/bad\.json item 0 field response\[0\]: image not found/);
  });
});

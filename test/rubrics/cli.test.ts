import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeDemoSeeds } from "../../scripts/make-demo-seeds.js";
import { loadRubric } from "../../src/rubrics/rubric.js";
import { runArr } from "../support/cli.js";
import { FakeVlm, serveFake } from "./support.js";

let dir: string;
let fake: FakeVlm;
let server: { url: string; close(): Promise<void> };
let config: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "arr-cli-rubrics-"));
  await makeDemoSeeds(join(dir, "seeds"), { pairs: 2, size: 16 });
  fake = new FakeVlm();
  server = await serveFake(fake);
  config = join(dir, "arr.yaml");
  await writeFile(
    config,
    [
      "vlm:",
      "  model: fake-vlm",
      `  base_url: ${server.url}`,
      "  max_retries: 0",
      "judge:",
      "  cache_dir: cache",
      "induction:",
      "  max_epochs: 2",
      "  concurrency: 2",
      "",
    ].join("\n"),
  );
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

const arr = (...args: string[]) => runArr(args);

describe("arr rubrics", () => {
  it("induce writes a loadable rubric over HTTP, prints statistics; a rerun pays nothing", async () => {
    const out = join(dir, "rubric.yaml");
    const seeds = join(dir, "seeds", "seeds.jsonl");
    const induce = [
      "rubrics",
      "induce",
      "--config",
      config,
      "--seeds",
      seeds,
      "--out",
      out,
      "-k",
      "10",
      "--no-progress",
    ];
    const first = await arr(...induce);
    expect(first.err).toBe("");
    expect(first.code).toBe(0);
    expect(first.out).toMatch(
      /pairs: 2 · passed first time 2 · passed after refinement 0 · dropped 0 · failed 0/,
    );
    const loaded = await loadRubric(out);
    expect(loaded.rubric.criteria).toHaveLength(10);
    expect(loaded.rubric.provenance?.seeds?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(fake.calls.filter((c) => c.kind === "arr_criteria")[0]?.text).toContain("exactly 10 criteria");
    const paid = fake.completed;
    expect(paid).toBe(2 * 3 + 1);

    const again = await arr(...induce);
    expect(again.code).toBe(0);
    expect(fake.completed).toBe(paid);
    expect(again.out).toMatch(/calls: 0 paid, 7 from cache/);

    const show = await arr("rubrics", "show", out);
    expect(show.code).toBe(0);
    expect(show.out).toContain("## Verified criteria (10)");
    const text = await arr("rubrics", "show", out, "--text");
    expect(text.out).toBe(`${loaded.text}\n`);
  });

  it("zero-shot from the task description", async () => {
    const out = join(dir, "zs.json");
    const r = await arr(
      "rubrics",
      "induce",
      "--config",
      config,
      "--zero-shot",
      "--out",
      out,
      "--no-progress",
      "--set",
      "induction.task_description=Prefer warm, high-contrast images",
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(await readFile(out, "utf8")).provenance.mode).toBe("zero-shot");
  });

  it("usage errors exit 2 and write nothing", async () => {
    const out = join(dir, "never.yaml");
    const bad = await arr(
      "rubrics",
      "induce",
      "--config",
      config,
      "--seeds",
      "x.jsonl",
      "--out",
      out,
      "-k",
      "0",
    );
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--criteria-per-pair must be an integer/);
    const noSeeds = await arr("rubrics", "induce", "--config", config, "--out", out);
    expect(noSeeds.code).toBe(2);
    expect(noSeeds.err).toMatch(/--seeds FILE is required/);
    const ext = await arr(
      "rubrics",
      "induce",
      "--config",
      config,
      "--seeds",
      "x",
      "--out",
      join(dir, "r.txt"),
    );
    expect(ext.code).toBe(2);
    const missing = await arr(
      "rubrics",
      "induce",
      "--config",
      config,
      "--seeds",
      join(dir, "nope.jsonl"),
      "--out",
      out,
    );
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/nope\.jsonl/);
    await expect(readFile(out)).rejects.toThrow();
  });
});

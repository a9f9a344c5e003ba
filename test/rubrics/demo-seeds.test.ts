/**
 * The bundled demo seeds (assets/seeds/) with the offline referee: the seeds are reproducible from
 * scripts/make-demo-seeds.ts, position-balanced, and the referee's pixel criteria can explain them.
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeDemoSeeds } from "../../scripts/make-demo-seeds.js";
import { ImageEncodingSchema, InductionSchema, JudgeSchema, VlmSchema } from "../../src/config/schema.js";
import { loadPairs } from "../../src/data/pairs.js";
import { type Referee, startReferee } from "../../src/referee/index.js";
import { induceRubrics } from "../../src/rubrics/induce.js";
import { createVlmClient } from "../../src/vlm/client.js";

const ASSETS = join(import.meta.dirname, "..", "..", "assets", "seeds");
let dir: string;
let referee: Referee;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "arr-demo-seeds-"));
  referee = await startReferee();
});
afterAll(async () => {
  await referee.close();
  await rm(dir, { recursive: true, force: true });
});

describe("demo seeds", () => {
  it("are exactly what the script generates, and position-balanced", async () => {
    await makeDemoSeeds(join(dir, "regen"));
    const files = (await readdir(ASSETS)).sort();
    expect((await readdir(join(dir, "regen"))).sort()).toEqual(files);
    for (const f of files) {
      expect(await readFile(join(dir, "regen", f)), f).toEqual(await readFile(join(ASSETS, f)));
    }
    const { pairs } = await loadPairs(join(ASSETS, "seeds.jsonl"), { task: "t2i" });
    expect(pairs).toHaveLength(8);
    const firstWins = pairs.filter((p) => p.labelRank?.[0] === 1).length;
    expect(firstWins).toBe(4);
  });

  it("induce a verified rubric with the referee", async () => {
    const { pairs } = await loadPairs(join(ASSETS, "seeds.jsonl"), { task: "t2i" });
    const r = await induceRubrics({
      vlm: createVlmClient(
        VlmSchema.parse({ provider: "referee", model: "arr-referee", base_url: referee.url }),
      ),
      pairs,
      config: InductionSchema.parse({ concurrency: 4 }),
      judge: JudgeSchema.parse({ order: "swap", cache_dir: join(dir, "judge") }),
      image: ImageEncodingSchema.parse({}),
      cache: join(dir, "induction"),
    });
    const s = r.stats;
    expect(s && s.passed_first_time + s.passed_after_refinement + s.dropped + s.failed).toBe(8);
    expect(s?.failed).toBe(0);
    // The hidden preference (warmer, higher contrast) is expressible by the referee's criteria.
    expect((s?.passed_first_time ?? 0) + (s?.passed_after_refinement ?? 0)).toBeGreaterThanOrEqual(6);
    expect(r.rubric.criteria.join("\n")).toMatch(/warm/i);
    expect(r.rubric.criteria.join("\n")).toMatch(/contrast/i);
  });
});

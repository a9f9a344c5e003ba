/**
 * Induction over real HTTP against the judge suite's stand-in VLM (test/support/stand-in-vlm.ts):
 * it ranks by brightness whatever the rubric says, answers criteria/categories with fixed text,
 * and fails on request. Seeds: grey squares where the human prefers the brighter one, except one
 * pair where the human prefers the darker one, which no criteria can make this judge reproduce.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImageEncodingSchema, InductionSchema, JudgeSchema, VlmSchema } from "../../src/config/schema.js";
import type { PreferencePair } from "../../src/data/pairs.js";
import { induceRubrics } from "../../src/rubrics/induce.js";
import { createVlmClient } from "../../src/vlm/client.js";
import { startStandInVlm } from "../support/stand-in-vlm.js";

let dir: string;
let pairs: PreferencePair[];

async function grey(name: string, level: number): Promise<string> {
  const path = join(dir, name);
  await writeFile(
    path,
    await sharp({
      create: { width: 8, height: 8, channels: 3, background: { r: level, g: level, b: level } },
    })
      .png()
      .toBuffer(),
  );
  return path;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "arr-standin-"));
  pairs = [
    {
      id: "bright-first",
      task: "t2i",
      prompt: "p1",
      images: [await grey("a1.png", 200), await grey("b1.png", 60)],
      labelRank: [1, 2],
    },
    {
      id: "bright-second",
      task: "t2i",
      prompt: "p2",
      images: [await grey("a2.png", 50), await grey("b2.png", 210)],
      labelRank: [2, 1],
    },
    {
      id: "dark-wins",
      task: "t2i",
      prompt: "p3",
      images: [await grey("a3.png", 220), await grey("b3.png", 40)],
      labelRank: [2, 1],
    },
  ];
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function setup(url: string, root: string, over: object = {}) {
  return {
    vlm: createVlmClient(VlmSchema.parse({ model: "stand-in-vlm", base_url: url, max_retries: 0 })),
    pairs,
    config: InductionSchema.parse({
      criteria_per_pair: 2,
      max_epochs: 3,
      max_retries: 1,
      concurrency: 1,
      ...over,
    }),
    judge: JudgeSchema.parse({ order: "swap", reask: 0, cache_dir: join(root, "judge") }),
    image: ImageEncodingSchema.parse({}),
    cache: join(root, "induction"),
  };
}

function promptOfBody(body: Record<string, unknown>): string {
  return JSON.stringify(body.messages);
}

describe("induction against the stand-in VLM", () => {
  it("keeps the call bound, never sends the label to the judge, drops what cannot pass", async () => {
    const vlm = await startStandInVlm();
    try {
      const r = await induceRubrics(setup(vlm.url, join(dir, "run1")));
      const kinds = vlm.requests.map((q) => q.info.schema);
      expect(kinds.filter((k) => k === "arr_categories")).toHaveLength(1);
      for (const [i, p] of pairs.entries()) {
        // Requests of pair i: its generation/refinement texts mention "Prompt: p<i>", its judge texts "### Prompt\np<i>".
        const mine = vlm.requests.filter((q) =>
          new RegExp(`(Prompt: |### Prompt\\\\n)${p.prompt}\\b`).test(promptOfBody(q.body)),
        );
        // dark-wins: the stand-in returns the same criteria on refinement, so rounds 2 and 3 repeat
        // round 1's requests and come from the caches: 4 paid of the 1 + 3 x 2 + 2 x 1 = 9 needed.
        expect(mine, p.id).toHaveLength(i < 2 ? 1 + 2 : 4);
        expect(mine.length).toBeLessThanOrEqual(1 + 3 * (2 + 1));
      }
      for (const q of vlm.requests.filter((x) => x.info.schema === "arr_rank")) {
        expect(promptOfBody(q.body)).not.toMatch(/Expected ranking|preferred|FEEDBACK/);
      }
      expect(r.stats).toEqual({
        pairs: 3,
        passed_first_time: 2,
        passed_after_refinement: 0,
        dropped: 1,
        failed: 0,
      });
      expect(r.provenance.pairs[2]).toMatchObject({ id: "dark-wins", fate: "dropped", calls: 9 });
      expect(r.rubric.themes).toEqual([{ theme: "Brightness", tips: ["The brighter image is better."] }]);
      // Tokens as the server reported them.
      expect(r.usage.calls).toBe(vlm.requests.length);
      expect(r.usage.prompt_tokens).toBeGreaterThan(0);
    } finally {
      await vlm.close();
    }
  });

  it("records a pair lost to HTTP 500 as failed, not dropped, and goes on", async () => {
    // Requests 0-2: pair 1 (generate, two orders); request 3 is pair 2's generation: 500, no SDK retry.
    const vlm = await startStandInVlm({ script: ["json", "json", "json", "http-500"] });
    try {
      const r = await induceRubrics({ ...setup(vlm.url, join(dir, "run2")), pairs: pairs.slice(0, 2) });
      expect(r.provenance.pairs[0]).toMatchObject({ fate: "passed", round: 0, calls: 3 });
      expect(r.provenance.pairs[1]).toMatchObject({ fate: "failed" });
      expect(r.provenance.pairs[1]?.reason).toMatch(/500/);
      expect(r.stats).toMatchObject({ passed_first_time: 1, failed: 1 });
    } finally {
      await vlm.close();
    }
  });
});

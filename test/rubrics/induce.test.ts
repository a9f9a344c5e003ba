import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeDemoSeeds } from "../../scripts/make-demo-seeds.js";
import { ImageEncodingSchema, InductionSchema, JudgeSchema } from "../../src/config/schema.js";
import { loadPairs, type PreferencePair } from "../../src/data/pairs.js";
import { AbortError, BudgetExceededError, RubricError, VlmError } from "../../src/errors.js";
import { CallCache } from "../../src/rubrics/call-cache.js";
import { type InduceOptions, induceRubrics } from "../../src/rubrics/induce.js";
import { induceZeroShot } from "../../src/rubrics/zero-shot.js";
import { UsageMeter } from "../../src/vlm/usage.js";
import { BAD, criteriaReply, type FakeScript, FakeVlm, GOOD, withFiller } from "./support.js";

let dir: string;
let pairs: PreferencePair[];
const image = ImageEncodingSchema.parse({});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "arr-induce-"));
  await makeDemoSeeds(join(dir, "seeds"), { pairs: 4, size: 24 });
  pairs = (await loadPairs(join(dir, "seeds", "seeds.jsonl"), { task: "t2i" })).pairs;
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let run = 0;
/** Fresh cache dirs per call unless `cacheRoot` is given. */
function options(
  fake: FakeVlm,
  over: Partial<InduceOptions> & { induction?: object; cacheRoot?: string } = {},
) {
  const root = over.cacheRoot ?? join(dir, `cache-${++run}`);
  const { induction, cacheRoot: _root, ...rest } = over;
  return {
    vlm: fake,
    pairs,
    config: InductionSchema.parse({ max_epochs: 3, max_retries: 2, concurrency: 2, ...induction }),
    judge: JudgeSchema.parse({ order: "swap", cache_dir: join(root, "judge") }),
    image,
    cache: join(root, "induction"),
    seeds: { file: "seeds.jsonl", sha256: "abc" },
    now: () => new Date("2026-01-02T03:04:05Z"),
    ...rest,
  } satisfies InduceOptions;
}

/** Verification calls per round with the swap policy (no re-asks needed by the fake). */
const VERIFY = 2;
const REFINE = 1;

describe("induceRubrics", () => {
  it("passes first time with exactly 1 + verify calls per pair, and merges themes", async () => {
    const fake = new FakeVlm();
    const r = await induceRubrics(options(fake));
    for (const p of pairs) expect(fake.callsFor(p.prompt)).toHaveLength(1 + VERIFY);
    expect(r.stats).toEqual({
      pairs: 4,
      passed_first_time: 4,
      passed_after_refinement: 0,
      dropped: 0,
      failed: 0,
    });
    // Every pair wrote the same 5 criteria: deduplicated to 5.
    expect(r.rubric.criteria).toEqual(withFiller(GOOD, 5));
    expect(r.provenance.categorization.status).toBe("merged");
    expect(r.rubric.themes.length).toBeGreaterThan(0);
    expect(r.text).toContain("Theme 1:");
    expect(r.provenance.pairs.map((f) => [f.fate, f.round, f.calls])).toEqual(
      pairs.map(() => ["passed", 0, 3]),
    );
    // 4 x 3 pair calls + 1 categorization, all paid, usage 100 + 20 tokens each.
    expect(r.usage).toMatchObject({
      calls: 13,
      cached_calls: 0,
      prompt_tokens: 1300,
      completion_tokens: 260,
    });
    expect(r.provenance.templates.judge).toBe("judge-v1");
  });

  it("never shows the label to the verifier (swap and single order)", async () => {
    for (const order of ["swap", "single"] as const) {
      const fake = new FakeVlm();
      const o = options(fake);
      await induceRubrics({ ...o, judge: { ...o.judge, order } });
      const verify = fake.calls.filter((c) => c.kind === "arr_rank");
      const generate = fake.calls.filter((c) => c.kind === "arr_criteria");
      expect(verify.length).toBeGreaterThan(0);
      // Sanity: the generator does see the label, so the check below can fail.
      for (const c of generate) expect(c.text).toMatch(/Expected ranking/);
      for (const c of verify) {
        const body = JSON.stringify(c.request.messages);
        expect(body).not.toMatch(/Expected ranking|preferred|label|human/i);
        expect(body).not.toMatch(/\[\s*[12],\s*[12]\s*\]/);
      }
    }
  });

  it("refines a failed set with the judge's feedback and passes it at round 1", async () => {
    const script: FakeScript = {
      criteria: (c) => criteriaReply(withFiller(c.mode === "refine" ? GOOD : BAD, c.k)),
    };
    const fake = new FakeVlm(script);
    const r = await induceRubrics(options(fake));
    const max = 1 + 3 * (VERIFY + REFINE);
    for (const p of pairs) {
      const calls = fake.callsFor(p.prompt);
      expect(calls).toHaveLength(1 + VERIFY + REFINE + VERIFY);
      expect(calls.length).toBeLessThanOrEqual(max);
      const refine = calls.find((c) => c.text.includes("=== FEEDBACK ==="));
      expect(refine?.text).toContain(`Expected ranking (human): [${p.labelRank?.join(", ")}]`);
      // The cool-preferring criteria make the judge pick the loser in both orders.
      const flipped = p.labelRank?.map((x) => 3 - x).join(", ");
      expect(refine?.text).toContain(`Judge ranking: [${flipped}]`);
      expect(refine?.text).toContain(BAD[0]);
    }
    expect(r.stats).toMatchObject({ passed_first_time: 0, passed_after_refinement: 4, dropped: 0 });
    expect(r.provenance.pairs.every((f) => f.round === 1)).toBe(true);
    expect(r.rubric.criteria).not.toContain(BAD[0]);
  });

  it("drops sets that never pass, spending no unverifiable refinement", async () => {
    const loser = pairs[1] as PreferencePair;
    const script: FakeScript = {
      // Position-only criteria for one pair: the swap judge disagrees with itself every round.
      criteria: (c) =>
        criteriaReply(
          c.prompt === loser.prompt
            ? Array.from(
                { length: c.k },
                (_, i) => `Vague point ${i + 1} of ${c.mode} ${c.nth}: the scene looks nice`,
              )
            : withFiller(GOOD, c.k),
        ),
    };
    const fake = new FakeVlm(script);
    const r = await induceRubrics(options(fake, { induction: { max_epochs: 3 } }));
    const calls = fake.callsFor(loser.prompt);
    // 1 generation + 3 verification rounds + 2 refinements between them: <= 1 + 3 x (2 + 1).
    expect(calls).toHaveLength(1 + 3 * VERIFY + 2 * REFINE);
    expect(calls.at(-1)?.kind).toBe("arr_rank");
    const fate = r.provenance.pairs.find((f) => f.id === loser.id);
    expect(fate).toMatchObject({ fate: "dropped", round: null });
    expect(fate?.reason).toMatch(/never matched/);
    expect(r.stats).toMatchObject({ passed_first_time: 3, dropped: 1 });
  });

  it("an empty result is a RubricError with the reason, and no rubric", async () => {
    const fake = new FakeVlm({ criteria: (c) => criteriaReply(withFiller(BAD, c.k)) });
    const err = await induceRubrics(options(fake, { induction: { max_epochs: 2 } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RubricError);
    expect((err as RubricError).message).toMatch(/no criteria passed blind verification: 4 pairs, 4 dropped/);
    expect((err as RubricError).hint).toBeTruthy();
    // No categorization call was spent on nothing.
    expect(fake.calls.some((c) => c.kind === "arr_categories")).toBe(false);
  });

  it("falls back to the flat list when categorization is malformed, and records it", async () => {
    const fake = new FakeVlm({ categories: () => "I would group them by colour." });
    const r = await induceRubrics(options(fake, { induction: { max_retries: 1 } }));
    expect(r.rubric.themes).toEqual([]);
    expect(r.provenance.categorization.status).toBe("fallback");
    expect(r.provenance.categorization.reason).toMatch(/no valid categories after 2 attempts/);
    expect(fake.calls.filter((c) => c.kind === "arr_categories")).toHaveLength(2);
    expect(r.text).toBe(r.rubric.criteria.map((c, i) => `${i + 1}. ${c}`).join("\n"));
  });

  it("falls back when the categorization call itself fails", async () => {
    const fake = new FakeVlm({
      categories: () => {
        throw new VlmError("VLM request failed on every endpoint", { retriable: true });
      },
    });
    const r = await induceRubrics(options(fake));
    expect(r.provenance.categorization).toMatchObject({ status: "fallback" });
    expect(r.provenance.categorization.reason).toMatch(/categorization call failed/);
    expect(r.rubric.criteria.length).toBe(5);
  });

  it("categorization off keeps the flat list", async () => {
    const fake = new FakeVlm();
    const r = await induceRubrics(options(fake, { induction: { categorize: false } }));
    expect(r.provenance.categorization.status).toBe("off");
    expect(fake.calls.some((c) => c.kind === "arr_categories")).toBe(false);
  });

  it.each([1, 5, 10, 20])("asks for and keeps exactly K = %i criteria per pair", async (k) => {
    const fake = new FakeVlm({
      // The first generation of each pair has one criterion too many: re-asked, never accepted.
      criteria: (c) => criteriaReply(withFiller(GOOD, c.nth === 0 ? c.k + 1 : c.k)),
    });
    const r = await induceRubrics(options(fake, { induction: { criteria_per_pair: k, categorize: false } }));
    const gens = fake.calls.filter((c) => c.kind === "arr_criteria");
    expect(gens).toHaveLength(2 * pairs.length);
    for (const g of gens) expect(g.text).toContain(`exactly ${k} criteria`);
    for (const f of r.provenance.pairs) expect(f.criteria).toHaveLength(k);
    expect(r.rubric.criteria).toEqual(withFiller(GOOD, k));
    expect(r.provenance.parameters.criteria_per_pair).toBe(k);
  });

  it("gives up generation after max_retries + 1 malformed replies and drops the pair", async () => {
    const fake = new FakeVlm({
      criteria: (c) => (c.prompt === pairs[0]?.prompt ? "not json" : criteriaReply(withFiller(GOOD, c.k))),
    });
    const r = await induceRubrics(options(fake, { induction: { max_retries: 2 } }));
    expect(fake.callsFor(pairs[0]?.prompt as string)).toHaveLength(3);
    expect(r.provenance.pairs[0]).toMatchObject({ fate: "dropped" });
    expect(r.provenance.pairs[0]?.reason).toMatch(/generation: no valid criteria after 3 attempts/);
  });

  it("rejects criteria that name an image position (they would leak the label)", async () => {
    const fake = new FakeVlm({
      criteria: (c) =>
        criteriaReply(c.nth === 0 ? withFiller(["Image 2 is better", ...GOOD], c.k) : withFiller(GOOD, c.k)),
    });
    const r = await induceRubrics(options(fake));
    expect(r.rubric.criteria.join("\n")).not.toMatch(/Image 2/);
    expect(fake.calls.filter((c) => c.kind === "arr_criteria")).toHaveLength(2 * pairs.length);
  });

  it("bounds concurrency over pairs", async () => {
    let inFlight = 0;
    let peak = 0;
    const fake = new FakeVlm();
    const inner = fake.complete.bind(fake);
    fake.complete = async (req) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      try {
        await new Promise((ok) => setTimeout(ok, 5));
        return await inner(req);
      } finally {
        inFlight--;
      }
    };
    await induceRubrics(options(fake, { induction: { concurrency: 1 } }));
    // One pair at a time; the swap judge sends its two orders together.
    expect(peak).toBeLessThanOrEqual(2);
  });

  it("resumes after a kill without paying any call twice", async () => {
    const fresh = new FakeVlm();
    await induceRubrics(options(fresh, { induction: { concurrency: 1 } }));
    const total = fresh.completed;

    for (const n of [2, 7, total - 1]) {
      const root = join(dir, `resume-${n}`);
      const controller = new AbortController();
      const first = new FakeVlm({ abortAfter: { n, controller } });
      const err = await induceRubrics(
        options(first, { cacheRoot: root, signal: controller.signal, induction: { concurrency: 1 } }),
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AbortError);
      expect(first.completed).toBe(n);
      const second = new FakeVlm();
      const r = await induceRubrics(options(second, { cacheRoot: root, induction: { concurrency: 1 } }));
      expect(first.completed + second.completed).toBe(total);
      expect(r.usage.calls).toBe(second.completed);
      expect(r.usage.cached_calls).toBeGreaterThan(0);
    }
    // A third run of the same command pays nothing at all.
    const root = join(dir, `resume-${total - 1}`);
    const third = new FakeVlm();
    const again = await induceRubrics(options(third, { cacheRoot: root, induction: { concurrency: 1 } }));
    expect(third.completed).toBe(0);
    expect(again.usage).toMatchObject({ calls: 0, cached_calls: 13 });
    // Per-pair request counts do not depend on what came from the cache.
    expect(again.provenance.pairs.map((f) => f.calls)).toEqual(pairs.map(() => 1 + VERIFY));
    expect(again.rubric.criteria).toEqual(withFiller(GOOD, 5));
    expect((await readdir(join(root, "induction"))).length).toBeGreaterThan(0);
  });

  it("stops cleanly on a budget and keeps what was paid", async () => {
    const root = join(dir, "budget");
    const fake = new FakeVlm();
    fake.meter = new UsageMeter({ budget: { max_calls: 5, max_tokens: null, max_cost: null } });
    const err = await induceRubrics(options(fake, { cacheRoot: root, induction: { concurrency: 1 } })).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BudgetExceededError);
    const again = new FakeVlm();
    await induceRubrics(options(again, { cacheRoot: root, induction: { concurrency: 1 } }));
    expect(fake.completed).toBeLessThanOrEqual(5);
    expect(fake.completed + again.completed).toBe(13);
  });

  it("records a pair whose calls fail as failed, not dropped", async () => {
    const fake = new FakeVlm({
      criteria: (c) => {
        if (c.prompt === pairs[2]?.prompt)
          throw new VlmError("VLM request failed on every endpoint", { retriable: true });
        return criteriaReply(withFiller(GOOD, c.k));
      },
    });
    const r = await induceRubrics(options(fake));
    expect(r.provenance.pairs[2]).toMatchObject({ fate: "failed" });
    expect(r.stats).toMatchObject({ passed_first_time: 3, failed: 1, dropped: 0 });
  });

  it("rejects seed pairs without a strict label before any call", async () => {
    const fake = new FakeVlm();
    const tied = [{ ...(pairs[0] as PreferencePair), labelRank: [1, 1] }];
    await expect(induceRubrics(options(fake, { pairs: tied }))).rejects.toThrow(/not a ranking/);
    const none = [{ ...(pairs[0] as PreferencePair), labelRank: undefined }];
    await expect(induceRubrics(options(fake, { pairs: none }))).rejects.toThrow(/no label_rank/);
    await expect(induceRubrics(options(fake, { pairs: [] }))).rejects.toBeInstanceOf(RubricError);
    await expect(induceRubrics(options(fake, { induction: { max_epochs: 0 } }))).rejects.toThrow(
      /max_epochs/,
    );
    expect(fake.calls).toHaveLength(0);
  });

  it("edit pairs: generation shows Image BASE, verification still has no label", async () => {
    const editPairs: PreferencePair[] = pairs.map((p) => ({
      ...p,
      task: "edit",
      prompt: `make it warmer: ${p.prompt}`,
      sourceImages: [p.images[1] as string],
    }));
    const fake = new FakeVlm();
    const r = await induceRubrics(options(fake, { pairs: editPairs, induction: { task: "edit" } }));
    expect(r.rubric.task).toBe("edit");
    const gen = fake.calls.find((c) => c.kind === "arr_criteria");
    expect(gen?.text).toContain("Image BASE");
    expect(gen?.text).toContain("Edit instruction: make it warmer");
    expect(gen?.images).toBe(3);
    for (const c of fake.calls.filter((x) => x.kind === "arr_rank")) {
      expect(c.text).not.toMatch(/Expected ranking|preferred/);
      expect(c.images).toBe(3);
    }
  });
});

describe("induceZeroShot", () => {
  it("writes criteria from the task description alone, text only", async () => {
    const fake = new FakeVlm();
    const r = await induceZeroShot({
      vlm: fake,
      config: InductionSchema.parse({
        task_description: "Prefer warm, high-contrast images",
        criteria_per_pair: 10,
      }),
      cache: new CallCache(join(dir, "zs")),
    });
    expect(fake.calls.map((c) => [c.kind, c.images])).toEqual([
      ["arr_criteria", 0],
      ["arr_categories", 0],
    ]);
    expect(fake.calls[0]?.text).toContain("Prefer warm, high-contrast images");
    expect(fake.calls[0]?.text).not.toMatch(/Expected ranking/);
    expect(r.rubric.criteria).toHaveLength(10);
    expect(r.provenance).toMatchObject({ mode: "zero-shot", seeds: null, stats: null, judge_model: null });
    expect(r.stats).toBeNull();
  });

  it("needs a task description", async () => {
    const fake = new FakeVlm();
    await expect(induceZeroShot({ vlm: fake, config: InductionSchema.parse({}) })).rejects.toThrow(
      /task_description/,
    );
  });
});

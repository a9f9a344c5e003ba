import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ImageEncodingSchema, JudgeSchema, VlmSchema } from "../../src/config/schema.js";
import { AbortError, BudgetExceededError } from "../../src/errors.js";
import { type CompareInput, createJudge } from "../../src/judge/judge.js";
import { TEMPLATE_VERSION } from "../../src/judge/prompt.js";
import { summarizeVerdicts } from "../../src/judge/summary.js";
import { createVlmClient } from "../../src/vlm/client.js";
import { hashBytes } from "../../src/vlm/images.js";
import { UsageMeter } from "../../src/vlm/usage.js";
import { halvesPng, solidPng, writeGrayLadder, writeImage } from "../support/images.js";
import { type StandInOptions, type StandInVlm, startStandInVlm } from "../support/stand-in-vlm.js";
import { until } from "../support/until.js";

let servers: StandInVlm[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

let dir: string;
let gray: string[]; // darkest first
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "arr-judge-"));
  gray = await writeGrayLadder(dir, 6);
});

async function setup(
  o: StandInOptions = {},
  judge: Record<string, unknown> = {},
  extra: {
    cacheDir?: string | null;
    meter?: UsageMeter;
    rubric?: { text: string; hash: string } | null;
  } = {},
) {
  const s = await startStandInVlm(o);
  servers.push(s);
  const vlm = createVlmClient(VlmSchema.parse({ model: "stand-in", base_url: s.url, max_retries: 2 }));
  const j = createJudge({
    vlm,
    config: JudgeSchema.parse({ cache_dir: null, ...judge }),
    image: ImageEncodingSchema.parse({}),
    rubric:
      extra.rubric === undefined ? { text: "1. The brighter image is better.", hash: "h1" } : extra.rubric,
    ...(extra.cacheDir !== undefined ? { cacheDir: extra.cacheDir } : {}),
    ...(extra.meter ? { meter: extra.meter } : {}),
  });
  return { s, j };
}

/** Content parts of each recorded request's first message. */
function userParts(s: StandInVlm): Array<Array<{ type: string; text?: string }>> {
  return s.requests.map((r) => {
    const messages = r.body.messages as Array<{ content: Array<{ type: string; text?: string }> }>;
    return messages[0]?.content ?? [];
  });
}

const pair = (a: number, b: number, id?: string): CompareInput => ({
  prompt: "a bright room",
  candidates: [gray[a] as string, gray[b] as string],
  ...(id ? { id } : {}),
});

describe("judge", () => {
  it("the image the rule prefers wins in both orders (swap agrees, rewards follow)", async () => {
    const { s, j } = await setup();
    const v1 = await j.compare(pair(1, 4));
    const v2 = await j.compare(pair(4, 1));
    expect(v1).toMatchObject({
      outcome: "decided",
      ranking: [2, 1],
      winner: 1,
      agreement: true,
      rewards: [-0.1, 1],
    });
    expect(v2).toMatchObject({
      outcome: "decided",
      ranking: [1, 2],
      winner: 0,
      agreement: true,
      rewards: [1, -0.1],
    });
    expect(v1.orders.map((o) => o.permutation)).toEqual([
      [0, 1],
      [1, 0],
    ]);
    expect(v1.orders[1]?.rank).toEqual([1, 2]); // the reversed presentation: brighter shown first
    expect(v1).toMatchObject({
      templateVersion: TEMPLATE_VERSION,
      rubricHash: "h1",
      model: "stand-in",
      cached: false,
    });
    expect(s.requests).toHaveLength(4);
  });

  it("sends each file's exact bytes while reusing read memory across pairs of different sizes", async () => {
    // Sizes grow and shrink so reused memory is larger than some files: a stale tail or a buffer
    // reused while still in flight would send bytes that are not the file's.
    const sizes = [64, 24, 96, 16, 48, 80];
    const files = await Promise.all(
      sizes.map(async (w, i) => writeImage(dir, `reuse-${i}.png`, await solidPng(30 + 40 * i, w, w - 5))),
    );
    const fileHashes = new Set(await Promise.all(files.map(async (f) => hashBytes(await readFile(f)))));
    const { s, j } = await setup();
    const inputs = Array.from({ length: 12 }, (_, k) => {
      const a = k % files.length;
      const b = (k * 5 + 1) % files.length === a ? (a + 1) % files.length : (k * 5 + 1) % files.length;
      return { prompt: `pair ${k}`, candidates: [files[a] as string, files[b] as string], id: `${a}-${b}` };
    });
    const verdicts = await j.compareMany(inputs, { concurrency: 3 });
    for (const v of verdicts) {
      const [a, b] = (v.id as string).split("-").map(Number) as [number, number];
      expect([v.id, v.outcome, v.winner]).toEqual([v.id, "decided", a > b ? 0 : 1]); // brighter wins
    }
    for (const r of s.requests) {
      const messages = r.body.messages as Array<{
        content: Array<{ type: string; image_url?: { url: string } }>;
      }>;
      for (const part of messages[0]?.content ?? []) {
        if (part.type !== "image_url") continue;
        const url = part.image_url?.url as string;
        expect(fileHashes.has(hashBytes(Buffer.from(url.slice(url.indexOf(",") + 1), "base64")))).toBe(true);
      }
    }
  });

  it("keeps read memory until its comparison is over: a re-ask after other pairs were read sends its own bytes", async () => {
    const { s, j } = await setup({ script: ["garbage"], latencyMs: 80 }, { order: "single", reask: 1 });
    const [a, b] = [gray[0] as string, gray[5] as string];
    const first = j.compare({ prompt: "first pair", candidates: [a, b] });
    await until(() => s.requests.length > 0); // its first request is in flight
    const others = j.compareMany([pair(1, 2), pair(3, 4), pair(2, 3)], { concurrency: 3 });
    const [v] = await Promise.all([first, others]);
    expect([v.outcome, v.winner]).toEqual(["decided", 1]);
    const asked = s.requests.filter((r) => r.info.text.includes("first pair"));
    expect(asked.map((r) => r.info.messages)).toEqual([1, 3]); // the ask, then the re-ask
    const own = [hashBytes(await readFile(a)), hashBytes(await readFile(b))];
    for (const r of asked) expect(r.info.candidateHashes).toEqual(own);
  });

  it("sends images first with labels, the rubric block, the prompt and the JSON shape last", async () => {
    const { s, j } = await setup({}, { order: "single", task_description: "Compare photos." });
    await j.compare(pair(0, 1));
    const content = userParts(s)[0] as Array<{ type: string; text?: string }>;
    expect(content.map((p) => p.type)).toEqual(["text", "image_url", "text", "image_url", "text"]);
    expect([content[0]?.text, content[2]?.text]).toEqual(["Image 1:", "Image 2:"]);
    const text = content[4]?.text as string;
    expect(text).toMatch(/### Rubrics\n1\. The brighter image is better\.\n\n###/);
    expect(text).toContain("### Task\nCompare photos.");
    expect(text).toContain("a bright room");
    expect(text.trim().split("\n").at(-1)).toMatch(/^\{"rank": \[.*\], "reason": ".*"\}$/);
  });

  it("labels an edit's base image and the edited candidates; no rubric block without a rubric", async () => {
    const { s, j } = await setup({}, { order: "single" }, { rubric: null });
    const src = await writeImage(dir, "src.png", await halvesPng(10, 240, 64, 32));
    const v = await j.compare({
      prompt: "make it brighter",
      sourceImage: src,
      candidates: [gray[5] as string, gray[0] as string],
    });
    expect(v.ranking).toEqual([1, 2]);
    const parts = userParts(s)[0] as Array<{ type: string; text?: string }>;
    const labels = parts.map((p) => p.text).filter((t) => t?.endsWith(":"));
    expect(labels).toEqual(["Image BASE (original, before editing):", "Edited Image 1:", "Edited Image 2:"]);
    expect(s.requests[0]?.info.baseHash).not.toBeNull();
    expect(JSON.stringify(parts)).not.toContain("### Rubrics");
    expect(v.rubricHash).toBeNull();
  });

  it("ranks N candidates listwise and maps the reversed order back", async () => {
    const { j } = await setup();
    const v = await j.compare({ prompt: "p", candidates: [gray[2], gray[5], gray[0], gray[3]] as string[] });
    expect(v).toMatchObject({ outcome: "decided", ranking: [3, 1, 4, 2], agreement: true });
    expect(v.rewards[1]).toBe(1);
    expect(v.rewards[2]).toBe(-0.1);
    expect(v.rewards[0]).toBeCloseTo(1 - 1.1 * (2 / 3), 12);
  });

  it("parses every reply style real models use", async () => {
    for (const style of ["json", "fenced", "think", "prose", "text"] as const) {
      const { j } = await setup({ style }, { order: "single" });
      const v = await j.compare(pair(0, 3));
      expect(v.outcome, style).toBe("decided");
      expect(v.ranking, style).toEqual([2, 1]);
      expect(v.orders[0]?.attempts, style).toBe(1);
    }
  });

  it("re-asks a wrong-length rank or a tie, then succeeds; the re-ask carries the conversation", async () => {
    const { s, j } = await setup({ script: ["wrong-length", "tie"] }, { order: "single", reask: 2 });
    const v = await j.compare(pair(0, 3));
    expect(v).toMatchObject({ outcome: "decided", ranking: [2, 1] });
    expect(v.orders[0]?.attempts).toBe(3);
    expect(s.requests.map((r) => r.info.messages)).toEqual([1, 3, 5]);
    expect(j.stats().reasks).toBe(2);
  });

  it("records invalid after the re-asks, with zero rewards, and never guesses", async () => {
    const { s, j } = await setup({ style: "garbage" }, { order: "single", reask: 1 });
    const v = await j.compare(pair(0, 3));
    expect(v).toMatchObject({ outcome: "invalid", ranking: null, winner: null, rewards: [0, 0] });
    expect(v.orders[0]).toMatchObject({ error: "no-json", attempts: 2, rank: null });
    expect(v.orders[0]?.raw).toContain("hard to say");
    expect(s.requests).toHaveLength(2);
  });

  it("invalid_policy fail stops with an error", async () => {
    const { j } = await setup({ style: "tie" }, { order: "single", reask: 0, invalid_policy: "fail" });
    await expect(j.compare(pair(0, 3))).rejects.toThrow(/no usable ranking/);
  });

  it("swap turns a planted position bias into ties; single order is fooled", async () => {
    const bias = { match: () => true };
    const { j } = await setup({ bias });
    const v = await j.compare(pair(0, 5));
    expect(v).toMatchObject({ outcome: "tie", agreement: false, ranking: null, rewards: [0, 0] });
    const single = await setup({ bias }, { order: "single" });
    const w = await single.j.compare(pair(0, 5));
    expect(w).toMatchObject({ outcome: "decided", winner: 0 }); // the darker one: fooled
    const mean = await setup({ bias }, { tie_policy: "mean" });
    expect((await mean.j.compare(pair(0, 5))).rewards).toEqual([0.45, 0.45]);
  });

  it("random order is seeded, recorded and still mapped back to the caller's order", async () => {
    const { j } = await setup({}, { order: "random", seed: 7 });
    const perms = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const a = i % 6;
      const b = (i + 3) % 6;
      const v = await j.compare(pair(a, b));
      expect(v.ranking).toEqual(a > b ? [1, 2] : [2, 1]);
      expect(v.orderPolicy).toBe("random");
      perms.add(JSON.stringify(v.orders[0]?.permutation));
      const again = await j.compare(pair(a, b));
      expect(again.orders[0]?.permutation).toEqual(v.orders[0]?.permutation);
    }
    expect(perms.size).toBe(2); // both orders occur over 6 items
  });

  it("the cache saves every repeated call, swap reuses single, and a torn entry is ignored and rewritten", async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), "arr-cache-"));
    const inputs = [pair(0, 3, "a"), pair(4, 1, "b"), pair(2, 5, "c")];
    const first = await setup({}, { order: "single" }, { cacheDir });
    await first.j.compareMany(inputs);
    expect(first.s.requests).toHaveLength(3);

    const second = await setup({}, {}, { cacheDir }); // swap: the original order is cached
    const vs = await second.j.compareMany(inputs);
    expect(second.s.requests).toHaveLength(3); // only the reversed orders
    expect(vs.map((v) => v.orders.map((o) => o.cached))).toEqual([
      [true, false],
      [true, false],
      [true, false],
    ]);

    const third = await setup({}, {}, { cacheDir });
    const again = await third.j.compareMany(inputs);
    expect(third.s.requests).toHaveLength(0);
    expect(again.every((v) => v.cached && v.outcome === "decided")).toBe(true);
    expect(again.map((v) => v.ranking)).toEqual(vs.map((v) => v.ranking));

    // Tear one entry (half-written file): it is a miss, re-asked once, and overwritten.
    const sub = (await readdir(cacheDir))[0] as string;
    const file = join(
      cacheDir,
      sub,
      (await readdir(join(cacheDir, sub))).find((f) => f.endsWith(".json")) as string,
    );
    const text = await readFile(file, "utf8");
    await writeFile(file, text.slice(0, text.length / 2));
    const fourth = await setup({}, {}, { cacheDir });
    await fourth.j.compareMany(inputs);
    expect(fourth.s.requests).toHaveLength(1);
    expect(fourth.j.stats().cacheCorrupt).toBe(1);
    expect(JSON.parse(await readFile(file, "utf8")).format).toBe(1);

    // A different rubric is a different question.
    const fifth = await setup({}, { order: "single" }, { cacheDir, rubric: { text: "other", hash: "h2" } });
    await fifth.j.compare(pair(0, 3));
    expect(fifth.s.requests).toHaveLength(1);
  });

  it("concurrent writers of the same entry leave a readable cache and pay once per process", async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), "arr-cache-"));
    const a = await setup({}, { order: "single" }, { cacheDir });
    const b = await setup({}, { order: "single" }, { cacheDir });
    const same = Array.from({ length: 8 }, () => pair(1, 2));
    await Promise.all([a.j.compareMany(same), b.j.compareMany(same)]);
    expect(a.s.requests.length).toBeLessThanOrEqual(1);
    expect(b.s.requests.length).toBeLessThanOrEqual(1);
    const c = await setup({}, { order: "single" }, { cacheDir });
    expect((await c.j.compare(pair(1, 2))).cached).toBe(true);
    expect(c.s.requests).toHaveLength(0);
  });

  it("a budget cap stops compareMany cleanly; finished verdicts were delivered first", async () => {
    const meter = new UsageMeter({ budget: { max_calls: 5, max_tokens: null, max_cost: null } });
    const { s, j } = await setup({}, {}, { meter });
    const delivered: string[] = [];
    const inputs = Array.from({ length: 6 }, (_, i) => pair(i % 6, (i + 1) % 6, `p${i}`));
    const err = await j
      .compareMany(inputs, { concurrency: 1, onVerdict: (v) => delivered.push(v.id as string) })
      .catch((e) => e);
    expect(err).toBeInstanceOf(BudgetExceededError);
    expect(err.budget).toBe("calls");
    expect(s.requests).toHaveLength(5);
    expect(delivered).toEqual(["p0", "p1"]);
    expect(meter.totals.calls).toBe(5);
  });

  it("a server that keeps failing gives counted failed verdicts, not a crash", async () => {
    const { j } = await setup({ style: "http-500" }, { order: "single" });
    const progress: number[] = [];
    const vs = await j.compareMany([pair(0, 1, "x"), pair(2, 3, "y")], {
      onProgress: (p) => progress.push(p.failed),
    });
    expect(vs.map((v) => v.outcome)).toEqual(["invalid", "invalid"]);
    expect(vs.every((v) => v.error && v.rewards.every((r) => r === 0))).toBe(true);
    expect(progress.at(-1)).toBe(2);
    const sum = summarizeVerdicts(vs);
    expect(sum).toMatchObject({ total: 2, invalid: 2, failed: 2, decided: 0 });
  });

  it("cancels a batch through its AbortSignal", async () => {
    const { j } = await setup({ style: "timeout" }, { order: "single" });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const t0 = Date.now();
    const err = await j.compareMany([pair(0, 1), pair(2, 3)], { signal: ac.signal }).catch((e) => e);
    expect(err).toBeInstanceOf(AbortError);
    // The stand-in never answers (10 minutes): anything well short of that is the abort.
    expect(Date.now() - t0).toBeLessThan(60_000);
  });

  it("summarizes decided, ties, invalid, agreement and tokens", async () => {
    const { j } = await setup({ bias: { match: (i) => i.brightness.some((b) => b < 30) } });
    const vs = await j.compareMany([pair(0, 5), pair(1, 4), pair(2, 3)]);
    const sum = summarizeVerdicts(vs);
    expect(sum).toMatchObject({ total: 3, decided: 2, ties: 1, invalid: 0, orderPairs: 3, agreed: 2 });
    expect(sum.agreementRate).toBeCloseTo(2 / 3, 12);
    expect(sum.tokens.total).toBeGreaterThan(0);
  });
});

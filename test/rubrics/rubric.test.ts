import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RubricError } from "../../src/errors.js";
import {
  generationRequest,
  parseCategoriesReply,
  parseCriteriaReply,
  refinementRequest,
} from "../../src/rubrics/prompts.js";
import {
  criteriaRubric,
  loadRubric,
  type RubricFile,
  renderRubricMarkdown,
  renderRubricText,
  rubricHash,
  saveRubric,
} from "../../src/rubrics/rubric.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "arr-rubric-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "seeds");

const sample: RubricFile = {
  format: "autorubric.rubric",
  version: 1,
  task: "t2i",
  language: "en",
  themes: [
    { theme: "Colour", tips: ["Warm tones dominate", "No colour casts"] },
    { theme: "Tone", tips: ["Strong contrast"] },
  ],
  criteria: ["Warm tones dominate", "No colour casts", "Strong contrast"],
  provenance: {
    mode: "seeded",
    seeds: { file: "seeds.jsonl", sha256: "ab".repeat(32), pairs: 2 },
    pairs: [
      { id: "a", fate: "passed", round: 0, reason: null, criteria: ["Warm tones dominate"], calls: 3 },
      { id: "b|c", fate: "dropped", round: null, reason: "never matched", criteria: [], calls: 9 },
    ],
    stats: { pairs: 2, passed_first_time: 1, passed_after_refinement: 0, dropped: 1, failed: 0 },
    categorization: { status: "merged", reason: null },
    model: "m",
    judge_model: "m",
    parameters: { criteria_per_pair: 5 },
    templates: { induction: "arr-induce/1", judge: "judge-v1" },
    task_description: null,
    usage: { calls: 12, cached_calls: 0, prompt_tokens: 1000, completion_tokens: 100, cost: 0.5 },
    created_at: "2026-01-01T00:00:00.000Z",
    autorubric_version: "0.1.0",
  },
};

describe("rubric file", () => {
  it.each(["r.yaml", "r.yml", "r.json"])("round-trips %s with the same text and hash", async (name) => {
    const path = join(dir, name);
    await saveRubric(path, sample);
    const loaded = await loadRubric(path);
    expect(loaded.rubric).toEqual(sample);
    expect(loaded.text).toBe(renderRubricText(sample));
    expect(loaded.hash).toBe(rubricHash(loaded.text));
    expect(loaded.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("renders themes with tips, else a numbered list; the hash follows the text", () => {
    expect(renderRubricText(sample)).toBe(
      "Theme 1: Colour\n- Warm tones dominate\n- No colour casts\n\nTheme 2: Tone\n- Strong contrast",
    );
    const flat = renderRubricText({ ...sample, themes: [] });
    expect(flat).toBe("1. Warm tones dominate\n2. No colour casts\n3. Strong contrast");
    expect(criteriaRubric(sample.criteria)).toEqual({ text: flat, hash: rubricHash(flat) });
    expect(rubricHash(flat)).not.toBe(rubricHash(renderRubricText(sample)));
  });

  it("loads a hand-written rubric without provenance (fixture)", async () => {
    const loaded = await loadRubric(join(FIXTURES, "hand-written.yaml"));
    expect(loaded.rubric.provenance).toBeNull();
    expect(loaded.rubric.themes).toEqual([]);
    expect(loaded.text.split("\n")).toHaveLength(loaded.rubric.criteria.length);
    expect(renderRubricMarkdown(loaded.rubric)).toContain("hand-written");
  });

  it("an empty criteria list is an error naming the file, line and field (fixture)", async () => {
    const file = join(FIXTURES, "empty-criteria.yaml");
    const err = await loadRubric(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RubricError);
    expect((err as RubricError).message).toMatch(new RegExp(`${file}:5:\\d+ criteria: `));
  });

  it("names nested fields, wrong formats and bad syntax", async () => {
    const bad = join(dir, "bad.yaml");
    await writeFile(
      bad,
      "format: autorubric.rubric\nversion: 1\ntask: t2i\nthemes:\n  - theme: Colour\n    tips: []\ncriteria: [a]\n",
    );
    await expect(loadRubric(bad)).rejects.toThrow(/bad\.yaml:6:\d+ themes\.0\.tips:/);
    const wrong = join(dir, "wrong.json");
    await writeFile(wrong, JSON.stringify({ format: "something", version: 1, task: "t2i", criteria: ["a"] }));
    const err = (await loadRubric(wrong).catch((e: unknown) => e)) as RubricError;
    expect(err.message).toMatch(/wrong\.json format:/);
    expect(err.hint).toMatch(/format: autorubric\.rubric/);
    const syntax = join(dir, "syntax.json");
    await writeFile(syntax, "{ nope");
    await expect(loadRubric(syntax)).rejects.toThrow(/syntax\.json: not valid JSON/);
    await expect(loadRubric(join(dir, "missing.yaml"))).rejects.toThrow(/cannot read rubric file/);
    await expect(loadRubric(join(dir, "r.txt"))).rejects.toThrow(/unknown rubric file extension/);
    await expect(saveRubric(join(dir, "e.yaml"), { ...sample, criteria: [] })).rejects.toThrow(/criteria/);
  });

  it("writes atomically: no temp file is left behind", async () => {
    const path = join(dir, "atomic.json");
    await saveRubric(path, sample);
    const { readdir } = await import("node:fs/promises");
    expect((await readdir(dir)).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    expect(JSON.parse(await readFile(path, "utf8")).format).toBe("autorubric.rubric");
  });

  it("renders Markdown with themes, criteria, statistics and pair fates", () => {
    const md = renderRubricMarkdown(sample, "Rubric r.yaml");
    expect(md).toContain("# Rubric r.yaml");
    expect(md).toContain("### 1. Colour");
    expect(md).toContain("## Verified criteria (3)");
    expect(md).toContain("| 2 | 1 | 0 | 1 | 0 |");
    expect(md).toContain("| b\\|c | dropped | — | 9 | never matched |");
    expect(md).toContain("12 calls paid");
  });
});

describe("induction prompts", () => {
  const base = {
    task: "t2i" as const,
    language: "en" as const,
    count: 5,
    prompt: "a red apple",
    images: { candidates: ["data:image/png;base64,AAA", "data:image/png;base64,BBB"] },
    labelRank: [2, 1],
  };

  it("generation: images first, labelled, the label stated, K stated, JSON keys on the last line", () => {
    const req = generationRequest(base);
    expect(req.schema?.name).toBe("arr_criteria");
    const user = req.messages.at(-1);
    const parts = Array.isArray(user?.content) ? user.content : [];
    expect(parts.map((p) => (p.type === "text" ? p.text.split("\n")[0] : "IMG"))).toEqual([
      "Image 1:",
      "IMG",
      "Image 2:",
      "IMG",
      expect.stringContaining("Write evaluation criteria"),
    ]);
    const text = parts.at(-1)?.type === "text" ? (parts.at(-1) as { text: string }).text : "";
    expect(text).toContain("exactly 5 criteria");
    expect(text).toContain(
      "Expected ranking (the human's preference, 1 = best, aligned with the image order): [2, 1]",
    );
    expect(text).toContain("the human preferred Image 2");
    expect(text.trim().split("\n").at(-1)).toMatch(/^\{"criteria": \[.*\], "reason": /);
  });

  it("refinement carries the previous criteria and the delimited feedback; zh states K too", () => {
    const req = refinementRequest({
      ...base,
      language: "zh",
      previous: ["Warm tones", "Contrast"],
      feedback: { judgeRanking: null, outcome: "tie", judgeReason: "orders\ndisagree" },
    });
    const user = req.messages.at(-1);
    const parts = Array.isArray(user?.content) ? user.content : [];
    const text = (parts.at(-1) as { text: string }).text;
    expect(text).toContain("1. Warm tones\n2. Contrast");
    expect(text).toMatch(
      /=== FEEDBACK ===\nExpected ranking \(human\): \[2, 1\]\nJudge ranking: none（平局）\nJudge reason: orders disagree\n=== END FEEDBACK ===/,
    );
    expect(text).toContain("exactly 5 criteria");
  });

  it("parses criteria tolerantly and validates count, duplicates and positions", () => {
    const fenced = '<think>hmm</think>\nSure:\n```json\n{"criteria": ["a", "b"], "reason": "r"}\n```';
    expect(parseCriteriaReply(fenced, 2)).toEqual({ ok: true, criteria: ["a", "b"], reason: "r" });
    expect(parseCriteriaReply('prose {"criteria": ["a"], "reason": "x {y}"} more', 1).ok).toBe(true);
    expect(parseCriteriaReply('{"criteria": ["a", "b"]}', 3)).toMatchObject({
      ok: false,
      reason: /exactly 3/,
    });
    expect(parseCriteriaReply('{"criteria": ["a", "A "]}', 2)).toMatchObject({
      ok: false,
      reason: /duplicate/,
    });
    expect(parseCriteriaReply('{"criteria": ["a", ""]}', 2)).toMatchObject({ ok: false, reason: /empty/ });
    for (const leak of [
      "Image 1 is sharper",
      "the second image wins",
      "Edited Image 2 keeps the sky",
      "图2更好",
    ]) {
      expect(parseCriteriaReply(JSON.stringify({ criteria: [leak] }), 1)).toMatchObject({ ok: false });
    }
    expect(parseCriteriaReply("no json here", 1)).toMatchObject({ ok: false, reason: /no JSON/ });
    expect(parseCriteriaReply("[1, 2]", 1)).toMatchObject({ ok: false, reason: /no JSON object/ });
    expect(parseCriteriaReply('{"items": ["a"]}', 1)).toMatchObject({
      ok: false,
      reason: /no "criteria" array/,
    });
    // Reasoning is dropped before the object is looked for.
    expect(
      parseCriteriaReply('<think>{"criteria": ["x"]}</think>```json\n{"criteria": ["Sharp edges."]}\n```', 1),
    ).toMatchObject({
      ok: true,
      criteria: ["Sharp edges."],
    });
  });

  it("parses categories, dropping duplicate tips and empty themes, bounding the count", () => {
    const reply = JSON.stringify({
      categories: [
        { theme: "Colour", tips: ["Warm", "warm ", "Even"] },
        { theme: "Empty", tips: ["Even"] },
      ],
      reason: "",
    });
    expect(parseCategoriesReply(reply, 5)).toEqual({
      ok: true,
      themes: [{ theme: "Colour", tips: ["Warm", "Even"] }],
      reason: "",
    });
    expect(parseCategoriesReply(reply, 1)).toMatchObject({ ok: false, reason: /at most 1/ });
    expect(parseCategoriesReply('{"categories": []}', 3)).toMatchObject({ ok: false });
    expect(parseCategoriesReply('{"categories": [{"tips": ["x"]}]}', 3)).toMatchObject({
      ok: false,
      reason: /no theme/,
    });
  });
});

describe("YAML pitfalls", () => {
  it("an unquoted 'key: value' criterion gets a quoting hint", async () => {
    const file = join(dir, "unquoted.yaml");
    await writeFile(
      file,
      "format: autorubric.rubric\nversion: 1\ntask: t2i\ncriteria:\n  - Warm colour: reds dominate\n",
    );
    const err = (await loadRubric(file).catch((e: unknown) => e)) as RubricError;
    expect(err.message).toMatch(/unquoted\.yaml:5:\d+ criteria\.0:/);
    expect(err.hint).toMatch(/quote/);
  });
});

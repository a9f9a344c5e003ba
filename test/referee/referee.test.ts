import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildJudgeMessages, buildReaskMessage, RANK_SCHEMA } from "../../src/judge/prompt.js";
import { type Referee, startReferee } from "../../src/referee/index.js";
import { recognise, THEMES, VOCABULARY } from "../../src/referee/vocabulary.js";
import {
  categorizationRequest,
  generationRequest,
  parseCategoriesReply,
  parseCriteriaReply,
  refinementRequest,
} from "../../src/rubrics/prompts.js";
import { criteriaRubric } from "../../src/rubrics/rubric.js";
import type { VlmRequest } from "../../src/vlm/client.js";

/** A 48x48 PNG data URL: a flat colour with a centred square of another colour. */
async function image(
  bg: [number, number, number],
  square?: [number, number, number],
  size = 16,
): Promise<string> {
  const w = 48;
  const raw = Buffer.alloc(w * w * 3);
  for (let y = 0; y < w; y++) {
    for (let x = 0; x < w; x++) {
      const inSquare = square && Math.abs(x - w / 2) < size / 2 && Math.abs(y - w / 2) < size / 2;
      raw.set(inSquare ? square : bg, (y * w + x) * 3);
    }
  }
  const png = await sharp(raw, { raw: { width: w, height: w, channels: 3 } })
    .png()
    .toBuffer();
  return `data:image/png;base64,${png.toString("base64")}`;
}

interface CompletionBody {
  choices: { message: { content: string } }[];
  usage: { prompt_tokens: number; completion_tokens: number };
}

let referee: Referee;
let warm: string;
let cool: string;
let dim: string;
let brightImg: string;

beforeAll(async () => {
  referee = await startReferee();
  warm = await image([210, 130, 60], [240, 200, 120]);
  cool = await image([60, 130, 210], [120, 200, 240]);
  dim = await image([40, 40, 45], [70, 70, 75]);
  brightImg = await image([200, 200, 205], [230, 230, 235]);
});
afterAll(async () => {
  await referee?.close();
});

async function ask(
  req: VlmRequest,
  structured = true,
): Promise<{ content: Record<string, unknown>; raw: string; body: CompletionBody }> {
  const res = await fetch(`${referee.baseUrl}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "arr-referee",
      messages: req.messages,
      ...(structured && req.schema
        ? {
            response_format: {
              type: "json_schema",
              json_schema: { name: req.schema.name, schema: req.schema.json, strict: true },
            },
          }
        : {}),
    }),
  });
  const body = (await res.json()) as CompletionBody;
  expect(res.status, JSON.stringify(body)).toBe(200);
  const raw = body.choices[0]?.message.content ?? "";
  return { content: JSON.parse(raw), raw, body };
}

function judgeRequest(candidates: string[], rubricText: string | null): VlmRequest {
  return {
    messages: buildJudgeMessages({
      task: "t2i",
      language: "en",
      prompt: "a lighthouse at dusk",
      candidates,
      rubricText,
    }),
    schema: RANK_SCHEMA,
  };
}

describe("vocabulary", () => {
  it("recognises each canonical sentence as exactly its own criterion, and theme names as none", () => {
    for (const c of VOCABULARY) {
      for (const lang of ["en", "zh"] as const) {
        for (const s of c.sentences[lang]) expect(recognise(s), `${c.id} (${lang}): ${s}`).toEqual([c.id]);
      }
    }
    for (const names of Object.values(THEMES)) {
      expect(recognise(names.en)).toEqual([]);
      expect(recognise(names.zh)).toEqual([]);
    }
  });

  it("matches keywords tolerantly (case, inflection, hyphens)", () => {
    expect(recognise("WARMER tones are preferred")).toEqual(["warmth"]);
    expect(recognise("well-lit scene; highly saturated")).toEqual(["colourfulness", "brightness"]);
    expect(recognise("avoid over-warning")).toEqual([]);
  });
});

describe("referee over HTTP", () => {
  it("lists itself as a rule-based model", async () => {
    const res = await fetch(`${referee.baseUrl}/models`);
    const body = (await res.json()) as { data: { id: string; owned_by: string }[] };
    expect(body.data[0]?.id).toBe("arr-referee");
    expect(body.data[0]?.owned_by).toContain("rule-based reference judge, not a VLM");
  });

  it("ranks by the rubric's named criterion, in both presentation orders", async () => {
    const rubric = "1. The palette leans warm, with golden light.";
    const a = await ask(judgeRequest([warm, cool], rubric));
    const b = await ask(judgeRequest([cool, warm], rubric));
    expect(a.content.rank).toEqual([1, 2]);
    expect(b.content.rank).toEqual([2, 1]);
    expect(a.content.reason).toContain("rule-based reference judge, not a VLM");
    expect(a.content.reason).toContain("warmth");
    expect(a.body.usage.prompt_tokens).toBeGreaterThan(0);
  });

  it("follows a different criterion when the rubric names it (brightness beats warmth-free default)", async () => {
    const rubric = "Theme 1: Light\n- The scene is bright and well lit.";
    expect((await ask(judgeRequest([dim, brightImg], rubric))).content.rank).toEqual([2, 1]);
    expect((await ask(judgeRequest([brightImg, dim], rubric))).content.rank).toEqual([1, 2]);
    // The same pair under a "dark, moody" rubric it cannot read falls back to its default and says so.
    const fallback = await ask(judgeRequest([dim, brightImg], "1. Moody atmosphere."));
    expect(fallback.content.reason).toMatch(/default \(detail\)/);
  });

  it("judges edits against Image BASE: a local edit preserves more than a global one", async () => {
    const base = await image([90, 140, 90]);
    const local = await image([90, 140, 90], [230, 40, 40]);
    const global = await image([200, 60, 60], [230, 40, 40]);
    const req = (candidates: string[]): VlmRequest => ({
      messages: buildJudgeMessages({
        task: "edit",
        language: "en",
        prompt: "add a red square in the middle",
        sources: [base],
        candidates,
        rubricText: "1. Regions the instruction does not mention stay unchanged from the original image.",
      }),
      schema: RANK_SCHEMA,
    });
    expect((await ask(req([local, global]))).content.rank).toEqual([1, 2]);
    expect((await ask(req([global, local]))).content.rank).toEqual([2, 1]);
  });

  it("reads what is asked from the JSON keys when no schema is sent", async () => {
    const { content } = await ask(judgeRequest([cool, warm], "1. Warm colour temperature."), false);
    expect(content.rank).toEqual([2, 1]);
  });

  it("ranks 3 candidates listwise and returns a permutation", async () => {
    const { content } = await ask(judgeRequest([cool, warm, dim], "1. Warm palette."));
    expect([...(content.rank as number[])].sort()).toEqual([1, 2, 3]);
    expect((content.rank as number[])[1]).toBe(1);
  });

  it("is deterministic: the same request gets the same answer", async () => {
    const req = judgeRequest([warm, cool], "1. Strong contrast.");
    expect((await ask(req)).raw).toBe((await ask(req)).raw);
  });

  const gen = () =>
    generationRequest({
      task: "t2i",
      language: "en",
      count: 4,
      prompt: "a lighthouse at dusk",
      images: { candidates: [cool, warm] },
      labelRank: [2, 1],
    });

  it("writes exactly K parseable criteria from its vocabulary for generation", async () => {
    for (const structured of [true, false]) {
      const { raw, content } = await ask(gen(), structured);
      const parsed = parseCriteriaReply(raw, 4);
      expect(parsed.ok, raw).toBe(true);
      for (const c of content.criteria as string[]) expect(recognise(c)).toHaveLength(1);
      expect(content.reason).toContain("not a VLM");
    }
    expect((await ask(gen())).raw).toBe((await ask(gen())).raw);
    // Generation does not look at the label: across prompts the hash picks different sets.
    const sets = new Set<string>();
    for (const prompt of ["a red fox", "a city at night", "a bowl of fruit", "a mountain lake", "a robot"]) {
      const req = generationRequest({
        task: "t2i",
        language: "en",
        count: 4,
        prompt,
        images: { candidates: [cool, warm] },
        labelRank: [2, 1],
      });
      sets.add(JSON.stringify((await ask(req)).content.criteria));
    }
    expect(sets.size).toBeGreaterThan(1);
  });

  it("refines toward criteria that agree with the expected ranking, which then verify", async () => {
    for (const [candidates, labelRank] of [
      [
        [cool, warm],
        [2, 1],
      ],
      [
        [warm, cool],
        [1, 2],
      ],
    ] as const) {
      const req = refinementRequest({
        task: "t2i",
        language: "en",
        count: 5,
        prompt: "a lighthouse at dusk",
        images: { candidates: [...candidates] },
        labelRank: [...labelRank],
        previous: ["The image is sharp, with clarity in small structures."],
        feedback: { judgeRanking: [...labelRank].reverse(), outcome: "decided", judgeReason: "x" },
      });
      const { raw, content } = await ask(req);
      const parsed = parseCriteriaReply(raw, 5);
      expect(parsed.ok, raw).toBe(true);
      expect((content.criteria as string[]).some((c) => recognise(c).includes("warmth"))).toBe(true);
      // Blind verification with exactly these criteria reproduces the human ranking.
      const verdict = await ask(
        judgeRequest([...candidates], criteriaRubric(content.criteria as string[]).text),
      );
      expect(verdict.content.rank).toEqual([...labelRank]);
    }
  });

  it("groups criteria into at most N themes with the criteria as tips", async () => {
    const criteria = [
      "The palette leans warm: reds and oranges outweigh blues, giving a golden tone.",
      "Colours are vivid and saturated rather than washed out or grey.",
      "Strong contrast: clear separation between light and dark areas.",
      "Rich fine detail: crisp edges and visible texture.",
      "The main subject is centred and clearly framed, drawing the eye to the middle.",
      "The lighthouse has a red stripe.",
    ];
    const req = categorizationRequest({ task: "t2i", language: "en", maxThemes: 3, criteria });
    for (const structured of [true, false]) {
      const { raw } = await ask(req, structured);
      const parsed = parseCategoriesReply(raw, 3);
      expect(parsed.ok, raw).toBe(true);
      if (!parsed.ok) continue;
      expect(parsed.themes.length).toBeLessThanOrEqual(3);
      expect(parsed.themes.flatMap((t) => t.tips).sort()).toEqual([...criteria].sort());
    }
    const wide = await ask(categorizationRequest({ task: "t2i", language: "en", maxThemes: 5, criteria }));
    const themes = (wide.content.categories as { theme: string; tips: string[] }[]).map((t) => t.theme);
    expect(themes).toEqual([
      "Colour palette",
      "Light and tonality",
      "Surface quality",
      "Layout",
      "Other criteria",
    ]);
  });

  it("answers Chinese templates in Chinese, and reads the rubric again in a re-ask", async () => {
    const zh = generationRequest({
      task: "t2i",
      language: "zh",
      count: 3,
      prompt: "黄昏的灯塔",
      images: { candidates: [cool, warm] },
      labelRank: [2, 1],
    });
    const { raw, content } = await ask(zh);
    expect(parseCriteriaReply(raw, 3).ok, raw).toBe(true);
    for (const c of content.criteria as string[]) expect(c).toMatch(/[\u4e00-\u9fff]/);

    const first = judgeRequest([cool, warm], "1. 整体色调偏暖。");
    const reask: VlmRequest = {
      ...first,
      messages: [
        ...first.messages,
        { role: "assistant", content: '{"rank": [1, 1]}' },
        buildReaskMessage(2, "en", "a tie"),
      ],
    };
    expect((await ask(reask, false)).content.rank).toEqual([2, 1]);
  });

  it("refuses a request it cannot read with a 400 that says why", async () => {
    const res = await fetch(`${referee.baseUrl}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "x", messages: [{ role: "user", content: "hello" }] }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
      /cannot tell what is asked/,
    );
  });
});

import { describe, expect, it } from "vitest";
import { parseVerdict } from "../../src/judge/parse.js";
import { stripThinking } from "../../src/vlm/json-reply.js";

describe("parseVerdict", () => {
  it("reads clean JSON", () => {
    const r = parseVerdict('{"rank": [2, 1], "reason": "second is sharper"}', 2);
    expect(r).toEqual({ ok: true, rank: [2, 1], reason: "second is sharper", via: "json" });
  });

  it("reads JSON inside code fences", () => {
    const r = parseVerdict('```json\n{"rank": [1, 3, 2], "reason": "x"}\n```', 3);
    expect(r.ok && r.rank).toEqual([1, 3, 2]);
  });

  it("ignores a <think> preamble, including a decoy object inside it", () => {
    const raw = '<think>maybe {"rank": [1, 1]} ... no</think>\n{"rank": [2, 1], "reason": "ok"}';
    const r = parseVerdict(raw, 2);
    expect(r.ok && r.rank).toEqual([2, 1]);
  });

  it("drops everything before a lone </think> and treats an unclosed <think> as no answer", () => {
    expect(stripThinking('reasoning {"rank":[1,2]}</think>{"rank":[2,1]}')).toBe('{"rank":[2,1]}');
    expect(parseVerdict('<think>still thinking {"rank": [1, 2]}', 2)).toMatchObject({
      ok: false,
      reason: "empty",
    });
  });

  it("finds the JSON between prose, with braces inside strings and trailing commas", () => {
    const raw = 'Verdict follows. {"rank": [1, 2], "reason": "the {left} one wins",} Thanks!';
    const r = parseVerdict(raw, 2);
    expect(r).toMatchObject({ ok: true, rank: [1, 2], reason: "the {left} one wins" });
  });

  it("takes the last rank object when there are several", () => {
    const r = parseVerdict('first guess {"rank":[1,2]} final {"rank":[2,1],"reason":"r"}', 2);
    expect(r.ok && r.rank).toEqual([2, 1]);
  });

  it("accepts numeric strings in the rank", () => {
    expect(parseVerdict('{"rank": ["2", "1"], "reason": ""}', 2)).toMatchObject({ ok: true, rank: [2, 1] });
  });

  it("rejects a wrong-length rank, out-of-range values and ties", () => {
    expect(parseVerdict('{"rank": [1, 2, 3], "reason": ""}', 2)).toMatchObject({
      ok: false,
      reason: "bad-rank",
    });
    expect(parseVerdict('{"rank": [0, 1], "reason": ""}', 2)).toMatchObject({
      ok: false,
      reason: "bad-rank",
    });
    expect(parseVerdict('{"rank": [1.5, 1], "reason": ""}', 2)).toMatchObject({
      ok: false,
      reason: "bad-rank",
    });
    expect(parseVerdict('{"rank": [1, 1], "reason": ""}', 2)).toMatchObject({ ok: false, reason: "tie" });
    expect(parseVerdict('{"rank": [2, 2, 1], "reason": ""}', 3)).toMatchObject({ ok: false, reason: "tie" });
  });

  it("accepts a single clear textual verdict for two candidates only", () => {
    expect(parseVerdict("Image 2 is better.", 2)).toMatchObject({ ok: true, rank: [2, 1], via: "text" });
    expect(parseVerdict("Final answer: Image 1", 2)).toMatchObject({ ok: true, rank: [1, 2] });
    expect(parseVerdict("Edited Image 2 is clearly better than Edited Image 1.", 2)).toMatchObject({
      ok: true,
      rank: [2, 1],
    });
    expect(parseVerdict("图2更好", 2)).toMatchObject({ ok: true, rank: [2, 1] });
    // Ambiguous: both named as better.
    expect(parseVerdict("Image 1 is better in colour, Image 2 is better in detail.", 2).ok).toBe(false);
    // Not for listwise.
    expect(parseVerdict("Image 2 is best.", 3).ok).toBe(false);
    // A negation is not a verdict.
    expect(parseVerdict("Image 1 is not better.", 2).ok).toBe(false);
  });

  it("reports garbage, empty replies and JSON without a rank", () => {
    expect(parseVerdict("", 2)).toMatchObject({ ok: false, reason: "empty" });
    expect(parseVerdict("hard to say", 2)).toMatchObject({
      ok: false,
      reason: "no-json",
      raw: "hard to say",
    });
    expect(parseVerdict('{"winner": 1}', 2)).toMatchObject({ ok: false, reason: "no-rank" });
  });
});

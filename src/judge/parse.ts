/**
 * Tolerant, pure parser for judge replies. Real models wrap JSON in code fences, think out loud in
 * `<think>...</think>`, or put prose around the object; a few answer in words. The parser accepts
 * all of that but never guesses: a rank that is not a permutation of 1..N is a failure (the judge
 * re-asks), and a textual verdict counts only for two candidates when exactly one image is named.
 */

import { findJsonObject, stripThinking } from "../vlm/json-reply.js";

export type ParseFailure = "empty" | "no-json" | "no-rank" | "bad-rank" | "tie";

export type ParseResult =
  | {
      ok: true;
      /** Rank per candidate in presentation order, a permutation of 1..N. */
      rank: number[];
      reason: string;
      /** Where the rank came from: a JSON object, or a plain-words verdict (N = 2 only). */
      via: "json" | "text";
    }
  | {
      ok: false;
      reason: ParseFailure;
      /** Human-readable detail, used in the re-ask. */
      detail: string;
      raw: string;
    };

function toInts(v: unknown): number[] | null {
  if (!Array.isArray(v)) return null;
  const out: number[] = [];
  for (const x of v) {
    const n = typeof x === "string" && /^\s*\d+\s*$/.test(x) ? Number(x) : x;
    if (typeof n !== "number" || !Number.isInteger(n)) return null;
    out.push(n);
  }
  return out;
}

function checkRank(
  rank: number[],
  n: number,
): { ok: true } | { ok: false; reason: "bad-rank" | "tie"; detail: string } {
  if (rank.length !== n)
    return {
      ok: false,
      reason: "bad-rank",
      detail: `the rank has ${rank.length} values for ${n} candidates`,
    };
  if (rank.some((r) => r < 1 || r > n))
    return { ok: false, reason: "bad-rank", detail: `rank values must be between 1 and ${n}` };
  if (new Set(rank).size !== n)
    return { ok: false, reason: "tie", detail: "two candidates share a rank (ties are not allowed)" };
  return { ok: true };
}

const NUM = "(\\d+)";
const IMG = `(?:edited\\s+)?image\\s*#?\\s*${NUM}`;
const TEXT_VERDICTS: RegExp[] = [
  new RegExp(
    `\\b${IMG}\\s+(?:is|looks|seems|was)\\s+(?:clearly\\s+|slightly\\s+|much\\s+|significantly\\s+|overall\\s+)?(?:the\\s+)?(?:better|superior|preferred|winner|best)\\b`,
    "gi",
  ),
  new RegExp(
    `\\b(?:winner|better image|best image|preferred image|final answer|answer|verdict|choice)\\s*(?:is|:)\\s*\\**\\s*${IMG}`,
    "gi",
  ),
  new RegExp(`\\bi\\s+(?:would\\s+)?(?:prefer|choose|pick|select)\\s+${IMG}`, "gi"),
  new RegExp(`(?:图像|图片|图)\\s*${NUM}\\s*(?:更好|更优|更佳|胜出|最好)`, "g"),
];

/** A single clearly named winner among two candidates, else null. */
function textVerdict(s: string): number | null {
  const named = new Set<number>();
  for (const re of TEXT_VERDICTS) for (const m of s.matchAll(re)) named.add(Number(m[1]));
  if (named.size !== 1) return null;
  const w = [...named][0] as number;
  return w === 1 || w === 2 ? w : null;
}

/** Parses a judge reply for `n` candidates. Pure. */
export function parseVerdict(raw: string, n: number): ParseResult {
  const fail = (reason: ParseFailure, detail: string): ParseResult => ({ ok: false, reason, detail, raw });
  if (!raw || raw.trim() === "") return fail("empty", "the reply was empty");
  const s = stripThinking(raw);
  if (s === "") return fail("empty", "the reply had no answer after the reasoning");

  const found = findJsonObject(s, "rank");
  if ("obj" in found) {
    const rank = toInts(found.obj.rank);
    if (!rank) return fail("bad-rank", '"rank" must be a list of integers');
    const check = checkRank(rank, n);
    if (!check.ok) return fail(check.reason, check.detail);
    const reason = typeof found.obj.reason === "string" ? found.obj.reason : "";
    return { ok: true, rank, reason, via: "json" };
  }
  if (n === 2) {
    const w = textVerdict(s);
    if (w != null) return { ok: true, rank: w === 1 ? [1, 2] : [2, 1], reason: s.slice(0, 500), via: "text" };
  }
  return found.anyJson
    ? fail("no-rank", 'the JSON object has no "rank" key')
    : fail("no-json", "no JSON object with a rank was found");
}

/**
 * The referee's answers, one function per request kind. Deterministic: the same request always gets
 * the same answer (choices that a model would make freely come from a hash of the request).
 */
import { createHash } from "node:crypto";
import { seededRng } from "../util/random.js";
import { type Pixels, zScores } from "./features.js";
import {
  expectedRanking,
  isRefinement,
  listedCriteria,
  type ParsedRequest,
  requestedCount,
  requestedThemes,
  rubricBlock,
} from "./request.js";
import {
  type Criterion,
  type CriterionId,
  criteriaFor,
  criterion,
  DEFAULT_CRITERION,
  recognise,
  THEMES,
  type ThemeId,
  VOCABULARY,
} from "./vocabulary.js";

/** Said in every reason, so no reader mistakes the referee for a model. */
export const DISCLAIMER = "rule-based reference judge, not a VLM";

/** Decoded images of a request: the candidates in presentation order, and an edit's base image. */
export interface RequestImages {
  candidates: Pixels[];
  base: Pixels | undefined;
}

export interface RankAnswer {
  rank: number[];
  reason: string;
}
export interface CriteriaAnswer {
  criteria: string[];
  reason: string;
}
export interface CategoriesAnswer {
  categories: { theme: string; tips: string[] }[];
  reason: string;
}

/** Summed z-scores of the given criteria's features per candidate. */
export function scoreCandidates(ids: readonly CriterionId[], images: RequestImages): number[] {
  const totals = images.candidates.map(() => 0);
  for (const id of ids) {
    const c = criterion(id);
    const z = zScores(images.candidates.map((p) => c.feature(p, images.base)));
    z.forEach((v, i) => {
      totals[i] = (totals[i] ?? 0) + v;
    });
  }
  return totals;
}

/** Ranks (1 = best) from scores; equal scores keep presentation order, as the prompt forbids ties. */
export function ranksFromScores(scores: readonly number[]): number[] {
  const order = scores.map((s, i) => ({ s, i })).sort((a, b) => b.s - a.s || a.i - b.i);
  const rank = new Array<number>(scores.length).fill(0);
  order.forEach(({ i }, position) => {
    rank[i] = position + 1;
  });
  return rank;
}

/** arr_rank: rank by the rubric's recognised criteria (z-scored features summed). */
export function answerRank(req: ParsedRequest, images: RequestImages): RankAnswer {
  const block = rubricBlock(req.text);
  const applicable = new Set(
    criteriaFor(req.task === "edit" && images.base ? "edit" : "t2i").map((c) => c.id),
  );
  const named = block ? recognise(block).filter((id) => applicable.has(id)) : [];
  const used = named.length > 0 ? named : [DEFAULT_CRITERION];
  const scores = scoreCandidates(used, images);
  const rank = ranksFromScores(scores);
  const basis =
    named.length > 0
      ? `ranked by the rubric's criteria it recognises (${used.join(", ")})`
      : `no criterion it knows in the ${block ? "rubric" : "prompt (no rubric given)"}, so ranked by its default (${DEFAULT_CRITERION})`;
  const shown = scores.map((s, i) => `${i + 1}: ${s.toFixed(2)}`).join(", ");
  return { rank, reason: `${DISCLAIMER}: ${basis}; summed z-scores of pixel features ${shown}.` };
}

export function requestSeed(req: ParsedRequest): number {
  const h = createHash("sha256").update(req.kind).update("\0").update(req.text);
  for (const image of req.images) h.update("\0").update(image.url);
  return h.digest().readUInt32BE(0);
}

/**
 * K sentences for an ordered list of criteria: first phrasings, then second phrasings, then
 * numbered restatements (distinct strings, as the induction parser requires).
 */
function sentencesFor(ordered: readonly Criterion[], k: number, language: "en" | "zh"): string[] {
  const out: string[] = [];
  for (let round = 0; out.length < k && ordered.length > 0; round++) {
    for (const c of ordered) {
      if (out.length >= k) break;
      const s = c.sentences[language][Math.min(round, 1)] as string;
      out.push(round < 2 ? s : `${s} (${language === "zh" ? "重申" : "restated"} ${round - 1})`);
    }
  }
  return out;
}

/**
 * arr_criteria. Generation picks K criteria from the vocabulary by a hash of the request, so some
 * sets disagree with the human label and need refinement, as with a real model. Refinement returns
 * the criteria whose features agree with the expected ranking on these very images, strongest first.
 */
export function answerCriteria(req: ParsedRequest, images: RequestImages): CriteriaAnswer {
  const k = requestedCount(req);
  const pool = criteriaFor(req.task === "edit" && images.base ? "edit" : "t2i");
  const expected = expectedRanking(req.text);
  if (isRefinement(req.text) && expected && expected.length === images.candidates.length) {
    // Goodness per candidate: a higher value for a better (lower) human rank.
    const goodness = zScores(expected.map((r) => -r));
    const scored = pool.map((c) => {
      const z = zScores(images.candidates.map((p) => c.feature(p, images.base)));
      return { c, agreement: z.reduce((a, v, i) => a + v * (goodness[i] ?? 0), 0) };
    });
    // Stable sort: ties keep vocabulary order.
    scored.sort((a, b) => b.agreement - a.agreement);
    const agreeing = scored.filter((s) => s.agreement > 1e-9).map((s) => s.c);
    // Restating agreeing criteria beats padding with ones that point the other way.
    const restated = sentencesFor(agreeing, Math.min(k, 2 * agreeing.length), req.language);
    const rest = sentencesFor(
      scored.filter((s) => !(s.agreement > 1e-9)).map((s) => s.c),
      k - restated.length,
      req.language,
    );
    return {
      criteria: [...restated, ...rest],
      reason: `${DISCLAIMER}: revised to the ${agreeing.length} criteria of its vocabulary whose pixel features agree with the expected ranking [${expected.join(", ")}] on these images${agreeing.length ? ` (${agreeing.map((c) => c.id).join(", ")})` : ""}.`,
    };
  }
  const random = seededRng(requestSeed(req));
  const shuffled = [...pool];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j] as Criterion, shuffled[i] as Criterion];
  }
  const picked = shuffled.slice(0, Math.min(k, shuffled.length));
  return {
    criteria: sentencesFor(picked, k, req.language),
    reason: `${DISCLAIMER}: ${picked.length} criteria picked from its fixed vocabulary by a hash of the request (${picked.map((c) => c.id).join(", ")}); they are not derived from the images.`,
  };
}

/** arr_categories: group the listed criteria by the vocabulary's themes, tips verbatim. */
export function answerCategories(req: ParsedRequest): CategoriesAnswer {
  const maxThemes = requestedThemes(req);
  const items = listedCriteria(req.text);
  const order: (ThemeId | "other")[] = [...new Set(VOCABULARY.map((c) => c.theme)), "other"];
  const groups = new Map<ThemeId | "other", string[]>();
  const seen = new Set<string>();
  for (const item of items) {
    const key = item.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    const first = recognise(item)[0];
    const theme = first ? criterion(first).theme : "other";
    groups.set(theme, [...(groups.get(theme) ?? []), item]);
  }
  let themed = order.filter((t) => groups.has(t)).map((t) => ({ id: t, tips: groups.get(t) ?? [] }));
  if (themed.length > maxThemes) {
    // Keep the largest themes; everything else goes under one "other" theme in the last slot.
    const keep = [...themed]
      .sort((a, b) => b.tips.length - a.tips.length)
      .slice(0, Math.max(maxThemes - 1, 0))
      .map((t) => t.id);
    const kept = themed.filter((t) => keep.includes(t.id));
    const merged = themed.filter((t) => !keep.includes(t.id)).flatMap((t) => t.tips);
    themed = [...kept, { id: "other", tips: merged }];
  }
  if (themed.length === 0) {
    return { categories: [], reason: `${DISCLAIMER}: no criteria were listed to categorize.` };
  }
  return {
    categories: themed.map((t) => ({ theme: THEMES[t.id][req.language], tips: t.tips })),
    reason: `${DISCLAIMER}: ${items.length} criteria grouped by the themes of its fixed vocabulary.`,
  };
}

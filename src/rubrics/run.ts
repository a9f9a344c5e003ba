/**
 * The run-level steps seeded (induce.ts) and zero-shot (zero-shot.ts) induction share: the run's
 * stop and call context, the criteria parser, deduplication, the structure call and the result.
 */
import { setMaxListeners } from "node:events";
import { VlmError } from "../errors.js";
import { VERSION } from "../version.js";
import { type AskContext, ask, CallCache, type Parsed, Tally } from "./call-cache.js";
import {
  type CriteriaParse,
  categorizationRequest,
  INDUCTION_TEMPLATE_VERSION,
  parseCategoriesReply,
  parseCriteriaReply,
} from "./prompts.js";
import { type Provenance, type RubricFile, renderRubricText, rubricHash, type Theme } from "./rubric.js";
import type { InduceOptions, InductionResult } from "./types.js";

/** The `ask` parser of an `arr_criteria` reply with exactly `count` criteria. */
export function criteriaParser(count: number): (text: string) => Parsed<string[]> {
  return (text) => {
    const r: CriteriaParse = parseCriteriaReply(text, count);
    return r.ok ? { ok: true, value: r.criteria } : { ok: false, reason: r.reason };
  };
}

/** Drops criteria repeated up to case and whitespace, keeping the first spelling. */
export function dedupe(list: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const c of list) {
    const k = c.replace(/\s+/g, " ").trim().toLowerCase();
    if (!seen.has(k)) {
      seen.add(k);
      out.push(c);
    }
  }
  return out;
}

/**
 * One run's stop (linked to the caller's signal) and the
 * context of its run-level calls (call cache, cost tally).
 */
export function startRun(options: Pick<InduceOptions, "signal" | "cache" | "price" | "vlm" | "config">): {
  stop: AbortController;
  ctx: AskContext;
} {
  const stop = new AbortController();
  // Every in-flight request, image read and judge order listens on this one signal.
  setMaxListeners(0, stop.signal);
  const outer = options.signal;
  if (outer?.aborted) stop.abort();
  else outer?.addEventListener("abort", () => stop.abort(), { once: true });
  const ctx: AskContext = {
    vlm: options.vlm,
    cache: options.cache instanceof CallCache ? options.cache : new CallCache(options.cache ?? null),
    tally: new Tally(options.price ?? options.vlm.meter?.price ?? null),
    maxRetries: options.config.max_retries,
    signal: stop.signal,
    counter: { sent: 0 },
  };
  return { stop, ctx };
}

/**
 * Structure: one text-only call merges the verified criteria into at most `categories` themes.
 * Malformed replies (after re-asks) and VLM failures fall back to the flat list, recorded.
 */
export async function structure(
  criteria: string[],
  options: Pick<InduceOptions, "vlm" | "config">,
  ctx: AskContext,
): Promise<{ themes: Theme[]; categorization: Provenance["categorization"] }> {
  const cfg = options.config;
  if (!cfg.categorize) return { themes: [], categorization: { status: "off", reason: null } };
  try {
    const r = await ask(
      ctx,
      "categorize",
      categorizationRequest({
        task: cfg.task,
        language: cfg.language,
        maxThemes: cfg.categories,
        criteria,
        taskDescription: cfg.task_description,
      }),
      (text) => {
        const p = parseCategoriesReply(text, cfg.categories);
        return p.ok ? { ok: true, value: p.themes } : { ok: false, reason: p.reason };
      },
    );
    if (r.ok) return { themes: r.value, categorization: { status: "merged", reason: null } };
    return {
      themes: [],
      categorization: {
        status: "fallback",
        reason: `no valid categories after ${cfg.max_retries + 1} attempts: ${r.reason}`,
      },
    };
  } catch (error) {
    if (error instanceof VlmError) {
      return {
        themes: [],
        categorization: { status: "fallback", reason: `categorization call failed: ${error.message}` },
      };
    }
    throw error;
  }
}

function parameters(options: InduceOptions): Record<string, unknown> {
  const c = options.config;
  const j = options.judge;
  return {
    criteria_per_pair: c.criteria_per_pair,
    max_epochs: c.max_epochs,
    max_retries: c.max_retries,
    categorize: c.categorize,
    categories: c.categories,
    concurrency: c.concurrency,
    vlm: options.vlm.params ?? null,
    judge_order: j?.order ?? null,
    judge_reask: j?.reask ?? null,
    image_max_side: options.image?.max_side ?? null,
    image_format: options.image?.format ?? null,
  };
}

/** The rubric file, provenance and hash of a finished run. */
export function finish(
  options: InduceOptions,
  mode: "seeded" | "zero-shot",
  criteria: string[],
  themes: Theme[],
  extra: Pick<Provenance, "pairs" | "stats" | "seeds" | "categorization" | "judge_model"> & {
    judgeTemplate: string | null;
  },
  tally: Tally,
): InductionResult {
  const usage = tally.summary();
  const provenance: Provenance = {
    mode,
    seeds: extra.seeds,
    pairs: extra.pairs,
    stats: extra.stats,
    categorization: extra.categorization,
    model: options.vlm.model,
    judge_model: extra.judge_model,
    parameters: parameters(options),
    templates: { induction: INDUCTION_TEMPLATE_VERSION, judge: extra.judgeTemplate },
    task_description: options.config.task_description,
    usage,
    created_at: (options.now?.() ?? new Date()).toISOString(),
    autorubric_version: VERSION,
  };
  const rubric: RubricFile = {
    format: "autorubric.rubric",
    version: 1,
    task: options.config.task,
    language: options.config.language,
    themes,
    criteria,
    provenance,
  };
  const text = renderRubricText(rubric);
  return { rubric, provenance, stats: extra.stats, usage, text, hash: rubricHash(text) };
}

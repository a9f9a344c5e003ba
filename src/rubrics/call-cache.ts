/**
 * Content-addressed cache of induction calls (generation, refinement, categorization, zero-shot),
 * so an interrupted `arr rubrics induce` rerun pays for nothing twice. The judge's own verdict
 * cache covers verification. Entries are written atomically (temp file + rename): concurrent
 * writers of the same key write the same content, and a torn write is never visible; an
 * unreadable entry is a miss, never an error.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Price } from "../config/schema.js";
import { AbortError } from "../errors.js";
import { writeFileAtomic } from "../util/atomic-write.js";
import { cacheKey } from "../util/content-key.js";
import type { VlmClient, VlmRequest } from "../vlm/client.js";
import { callCost, type TokenUsage } from "../vlm/usage.js";
import { INDUCTION_TEMPLATE_VERSION } from "./prompts.js";
import type { UsageSummary } from "./rubric.js";

/** A stored reply. */
export interface CachedCall {
  text: string;
  usage: TokenUsage;
  model: string;
  /** What kind of call produced it (for humans reading the cache). */
  kind: string;
  created_at: string;
}

export class CallCache {
  /** Directory of the entries, or null when caching is off. */
  readonly dir: string | null;

  constructor(dir: string | null) {
    this.dir = dir;
  }

  /** sha256 of a canonical JSON rendering of everything that determines the answer. */
  static key(parts: Record<string, unknown>): string {
    return cacheKey(parts);
  }

  private path(key: string): string {
    return join(this.dir as string, key.slice(0, 2), `${key}.json`);
  }

  async get(key: string): Promise<CachedCall | null> {
    if (!this.dir) return null;
    try {
      const value = JSON.parse(await readFile(this.path(key), "utf8")) as CachedCall;
      if (typeof value?.text !== "string" || typeof value.usage?.promptTokens !== "number") return null;
      return value;
    } catch {
      return null;
    }
  }

  async put(key: string, value: CachedCall): Promise<void> {
    if (!this.dir) return;
    await writeFileAtomic(this.path(key), JSON.stringify(value));
  }
}

/** Accumulates usage over a run: paid calls with tokens, and cache hits. */
export class Tally {
  calls = 0;
  cached = 0;
  promptTokens = 0;
  completionTokens = 0;
  cost = 0;
  constructor(private readonly price: Price | null) {}
  paid(usage: TokenUsage): void {
    this.calls++;
    this.promptTokens += usage.promptTokens;
    this.completionTokens += usage.completionTokens;
    this.cost += callCost(usage, this.price);
  }
  /** A verification verdict: `sent` requests went out for it (0 when it came from the judge's cache). */
  verdict(
    v: { orders: ReadonlyArray<{ attempts: number; cached: boolean }>; usage: TokenUsage },
    sent: number,
  ): void {
    for (const o of v.orders) if (o.cached) this.cached += o.attempts;
    this.calls += sent;
    this.promptTokens += v.usage.promptTokens;
    this.completionTokens += v.usage.completionTokens;
    this.cost += callCost(v.usage, this.price);
  }
  summary(): UsageSummary {
    return {
      calls: this.calls,
      cached_calls: this.cached,
      prompt_tokens: this.promptTokens,
      completion_tokens: this.completionTokens,
      cost: this.cost,
    };
  }
}

export interface AskContext {
  vlm: VlmClient;
  cache: CallCache;
  tally: Tally;
  maxRetries: number;
  signal: AbortSignal;
  counter: { sent: number };
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * One induction call with bounded re-asks on malformed replies. Every attempt has its own cache
 * key (the attempt number is part of it), so a rerun replays the same attempts for free.
 */
export async function ask<T>(
  ctx: AskContext,
  kind: string,
  req: VlmRequest,
  parse: (text: string) => Parsed<T>,
): Promise<Parsed<T>> {
  let last: Parsed<T> = { ok: false, reason: "no attempt made" };
  for (let attempt = 0; attempt <= ctx.maxRetries; attempt++) {
    const key = CallCache.key({
      kind,
      template: INDUCTION_TEMPLATE_VERSION,
      model: ctx.vlm.model,
      params: ctx.vlm.params ?? null,
      messages: req.messages,
      schema: req.schema ?? null,
      attempt,
    });
    let text: string;
    const hit = await ctx.cache.get(key);
    ctx.counter.sent++;
    if (hit) {
      ctx.tally.cached++;
      text = hit.text;
    } else {
      if (ctx.signal.aborted) throw new AbortError("rubric induction cancelled");
      const res = await ctx.vlm.complete({ ...req, signal: ctx.signal });
      ctx.tally.paid(res.usage);
      await ctx.cache.put(key, {
        text: res.text,
        usage: res.usage,
        model: res.model,
        kind,
        created_at: new Date().toISOString(),
      });
      text = res.text;
    }
    last = parse(text);
    if (last.ok) return last;
  }
  return last;
}

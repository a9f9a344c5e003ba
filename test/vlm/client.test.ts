import { afterEach, describe, expect, it } from "vitest";
import { type VlmConfig, VlmSchema } from "../../src/config/schema.js";
import { AbortError, BudgetExceededError, ConfigError, VlmError } from "../../src/errors.js";
import { RANK_SCHEMA } from "../../src/judge/prompt.js";
import { createVlmClient, type VlmRequest } from "../../src/vlm/client.js";
import { UsageMeter } from "../../src/vlm/usage.js";
import { solidPng } from "../support/images.js";
import { type StandInOptions, type StandInVlm, startStandInVlm } from "../support/stand-in-vlm.js";

let servers: StandInVlm[] = [];
async function standIn(o: StandInOptions = {}) {
  const s = await startStandInVlm(o);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

const cfg = (base_url: string | string[], o: Partial<Record<keyof VlmConfig, unknown>> = {}): VlmConfig =>
  VlmSchema.parse({ model: "m", base_url, max_retries: 2, timeout_ms: 5_000, ...o });

async function request(schema = true): Promise<VlmRequest> {
  const a = (await solidPng(30)).toString("base64");
  const b = (await solidPng(220)).toString("base64");
  return {
    messages: [
      {
        role: "user",
        content: [
          { type: "text", text: "Image 1:" },
          { type: "image_url", image_url: { url: `data:image/png;base64,${a}` } },
          { type: "text", text: "Image 2:" },
          { type: "image_url", image_url: { url: `data:image/png;base64,${b}` } },
          { type: "text", text: 'Rank them. {"rank": [..], "reason": ".."}' },
        ],
      },
    ],
    ...(schema ? { schema: RANK_SCHEMA } : {}),
  };
}

describe("createVlmClient", () => {
  it("sends a strict json_schema, sampling settings, extra_body and the key from the named env var", async () => {
    const s = await standIn({ apiKey: "sk-secret-123" });
    const meter = new UsageMeter({ price: { input_per_mtok: 2, output_per_mtok: 10, currency: "USD" } });
    const client = createVlmClient(
      cfg(s.url, { api_key_env: "TEST_KEY", temperature: 0.2, max_tokens: 64, extra_body: { top_k: 5 } }),
      { env: { TEST_KEY: "sk-secret-123" }, meter },
    );
    const res = await client.complete(await request());
    expect(JSON.parse(res.text).rank).toEqual([2, 1]);
    const body = s.requests[0]?.body as Record<string, unknown>;
    expect(body.response_format).toEqual({
      type: "json_schema",
      json_schema: { name: "arr_rank", schema: RANK_SCHEMA.json, strict: true },
    });
    expect([body.temperature, body.max_tokens, body.top_k, body.model]).toEqual([0.2, 64, 5, "m"]);
    expect(s.requests[0]?.info.authorization).toBe("Bearer sk-secret-123");
    const t = meter.totals;
    expect(t.calls).toBe(1);
    expect(t.promptTokens).toBe(res.usage.promptTokens);
    expect(t.cost).toBeCloseTo((res.usage.promptTokens * 2 + res.usage.completionTokens * 10) / 1e6, 12);
  });

  it("json_object and none modes send no schema", async () => {
    const s = await standIn();
    await createVlmClient(cfg(s.url, { structured_output: "json_object" })).complete(await request());
    await createVlmClient(cfg(s.url, { structured_output: "none" })).complete(await request());
    expect(s.requests[0]?.body.response_format).toEqual({ type: "json_object" });
    expect(s.requests[1]?.body.response_format).toBeUndefined();
  });

  it("never puts the key in an error: missing env var and a refused key", async () => {
    const s = await standIn({ apiKey: "right" });
    expect(() => createVlmClient(cfg(s.url, { api_key_env: "NOPE_KEY" }), { env: {} })).toThrow(ConfigError);
    const client = createVlmClient(cfg(s.url, { api_key_env: "K" }), { env: { K: "wrong-key-456" } });
    const err = await client.complete(await request()).catch((e) => e);
    expect(err).toBeInstanceOf(VlmError);
    expect(err.retriable).toBe(false);
    expect(`${err.message} ${err.hint}`).not.toContain("wrong-key-456");
    expect(err.hint).toContain("K");
  });

  it("retries 500, 429 and dropped connections through the SDK and counts one call", async () => {
    const s = await standIn({ script: ["http-500", "http-429", "drop"] });
    const meter = new UsageMeter();
    const client = createVlmClient(cfg(s.url, { max_retries: 3 }), { meter });
    const res = await client.complete(await request());
    expect(JSON.parse(res.text).rank).toEqual([2, 1]);
    expect(s.requests.map((r) => r.behaviour)).toEqual(["http-500", "http-429", "drop", "json"]);
    expect(meter.totals).toMatchObject({ calls: 1, failedCalls: 0 });
  });

  it("gives up after the SDK's retries with a retriable VlmError and counts the failure", async () => {
    const s = await standIn({ style: "http-500" });
    const meter = new UsageMeter();
    const client = createVlmClient(cfg(s.url, { max_retries: 1 }), { meter });
    const err = await client.complete(await request()).catch((e) => e);
    expect(err).toBeInstanceOf(VlmError);
    expect(err.retriable).toBe(true);
    expect(s.requests).toHaveLength(2);
    expect(meter.totals).toMatchObject({ calls: 0, failedCalls: 1 });
  });

  it("times out each attempt", async () => {
    const s = await standIn({ style: "timeout" });
    const client = createVlmClient(cfg(s.url, { timeout_ms: 150, max_retries: 1 }));
    const t0 = Date.now();
    const err = await client.complete(await request()).catch((e) => e);
    expect(err).toBeInstanceOf(VlmError);
    expect(err.message).toMatch(/timed out/);
    expect(s.requests).toHaveLength(2);
    // The stand-in never answers (10 minutes): anything well short of that is the timeout.
    expect(Date.now() - t0).toBeLessThan(60_000);
  });

  it("cancels through an AbortSignal", async () => {
    const s = await standIn({ style: "timeout" });
    const client = createVlmClient(cfg(s.url));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const t0 = Date.now();
    const err = await client.complete({ ...(await request()), signal: ac.signal }).catch((e) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(Date.now() - t0).toBeLessThan(60_000); // not the stand-in's 10-minute silence
  });

  it("sets a dead endpoint aside and keeps going on the others; all down is a VlmError", async () => {
    const live = await standIn();
    const dead = await standIn();
    const deadUrl = dead.url;
    await dead.close();
    servers = servers.filter((x) => x !== dead);
    let now = 1_000;
    const client = createVlmClient(
      cfg([deadUrl, live.url], { max_retries: 0, endpoint_cooldown_ms: 10_000 }),
      {
        now: () => now,
      },
    );
    for (let i = 0; i < 6; i++) await client.complete(await request());
    expect(live.requests).toHaveLength(6);
    const [d, l] = client.endpoints();
    expect(d?.failed).toBe(1); // tried once, then set aside for the cooldown
    expect(d?.downUntil).toBe(11_000);
    expect(l?.ok).toBe(6);
    now = 20_000; // cooldown over: the dead one is probed again, fails, the request still succeeds
    await client.complete(await request());
    expect(client.endpoints()[0]?.failed).toBe(2);

    const allDown = createVlmClient(cfg([deadUrl], { max_retries: 0 }));
    const err = await allDown.complete(await request()).catch((e) => e);
    expect(err).toBeInstanceOf(VlmError);
    expect(err.message).toMatch(/every endpoint/);
  });

  it("caps requests in flight", async () => {
    const s = await standIn({ latencyMs: 60 });
    const client = createVlmClient(cfg(s.url, { concurrency: 2 }));
    const req = await request();
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 6 }, () => client.complete(req)));
    // 6 requests, 2 at a time, 60 ms each: at least 3 rounds.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(170);
  });

  it("stops before a call that would exceed the calls budget; tokens and cost stop once reached", async () => {
    const s = await standIn();
    const meter = new UsageMeter({ budget: { max_calls: 2, max_tokens: null, max_cost: null } });
    const client = createVlmClient(cfg(s.url), { meter });
    const req = await request();
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => client.complete(req)));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(2);
    const rejected = results.filter((r) => r.status === "rejected") as PromiseRejectedResult[];
    expect(rejected.every((r) => r.reason instanceof BudgetExceededError)).toBe(true);
    expect(s.requests).toHaveLength(2);

    const tokenMeter = new UsageMeter({ budget: { max_calls: null, max_tokens: 10, max_cost: null } });
    const c2 = createVlmClient(cfg(s.url), { meter: tokenMeter });
    await c2.complete(req);
    await expect(c2.complete(req)).rejects.toBeInstanceOf(BudgetExceededError);
    expect(s.requests).toHaveLength(3);
  });
});

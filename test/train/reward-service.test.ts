/**
 * The control and reward service (protocol v1) over real loopback HTTP: authentication, submit and
 * long-poll, failed judgements, the outage stop, protocol errors, metrics and events.
 */
import { afterEach, describe, expect, it } from "vitest";
import { type PairJudge, type RewardService, startRewardService } from "../../src/train/reward-service.js";
import { until } from "../support/until.js";

const services: RewardService[] = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.close();
});

type Decision = Awaited<ReturnType<PairJudge["compare"]>>;

/** A judge whose verdicts the test releases by hand (or that fails), recording what it was asked. */
function manualJudge(mode: "ok" | "throw" = "ok") {
  const asked: string[][] = [];
  const waiting: Array<(d: Decision) => void> = [];
  const judge: PairJudge = {
    compare: ({ candidates }) => {
      asked.push(candidates);
      if (mode === "throw") return Promise.reject(new Error("VLM endpoint unreachable"));
      return new Promise((resolve) => waiting.push(resolve));
    },
  };
  const release = (d: Partial<Decision> = {}) =>
    waiting.shift()?.({ outcome: "decided", rewards: [1, -0.1], agreement: true, cached: false, ...d });
  return { judge, asked, release, waiting };
}

async function start(judge: PairJudge, extra: Partial<Parameters<typeof startRewardService>[0]> = {}) {
  const events: unknown[] = [];
  const metrics: unknown[] = [];
  const stops: string[] = [];
  const service = await startRewardService({
    judge,
    token: "secret-token",
    onEvent: (e) => events.push(e),
    onMetrics: (m) => metrics.push(m),
    onStop: (r) => stops.push(r),
    ...extra,
  });
  services.push(service);
  const call = async (
    method: string,
    path: string,
    body?: unknown,
    token: string | null = "secret-token",
  ) => {
    const res = await fetch(service.url + path, {
      method,
      headers: {
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : null };
  };
  return { service, call, events, metrics, stops };
}

const submission = (index = 0) => ({
  protocol: 1,
  rank: 0,
  step: 0,
  index,
  prompt: "a red apple",
  source_image: null,
  images: ["/tmp/a.png", "/tmp/b.png"],
});

describe("reward service", () => {
  it("binds loopback on a random port and refuses a missing or wrong token with 401", async () => {
    const { service, call } = await start(manualJudge().judge);
    expect(service.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await call("GET", "/v1/control", undefined, null)).status).toBe(401);
    expect((await call("GET", "/v1/control", undefined, "wrong-token")).status).toBe(401);
    expect((await call("GET", "/v1/control", undefined, "secret-token-and-more")).status).toBe(401);
    expect((await call("POST", "/v1/judge", submission(), null)).status).toBe(401);
    const ok = await call("GET", "/v1/control");
    expect(ok).toEqual({ status: 200, body: { protocol: 1, stop: false, reason: null } });
  });

  it("a random token is generated when none is given", async () => {
    const a = await startRewardService({ judge: manualJudge().judge });
    const b = await startRewardService({ judge: manualJudge().judge });
    services.push(a, b);
    expect(a.token).toMatch(/^[0-9a-f]{48}$/);
    expect(a.token).not.toBe(b.token);
  });

  it("accepts a pair at once (202), judges it in the background, and long-polls until done", async () => {
    const m = manualJudge();
    const { service, call } = await start(m.judge);
    const submitted = await call("POST", "/v1/judge", submission());
    expect(submitted.status).toBe(202);
    const id = submitted.body?.id as string;
    expect(m.asked).toEqual([["/tmp/a.png", "/tmp/b.png"]]);
    expect(await call("GET", `/v1/judge/${id}`)).toEqual({ status: 200, body: { status: "pending" } });
    // A long poll is answered as soon as the verdict lands: had its wait (the 30 s maximum) run out
    // first, the reply would be "pending".
    const poll = call("GET", `/v1/judge/${id}?wait_ms=30000`);
    setTimeout(() => m.release({ rewards: [-0.1, 1], agreement: false, cached: true }), 150);
    const done = await poll;
    expect(done).toEqual({
      status: 200,
      body: { status: "done", outcome: "decided", rewards: [-0.1, 1], agreement: false, cached: true },
    });
    expect(service.stats).toMatchObject({
      submitted: 1,
      completed: 1,
      decided: 1,
      withAgreement: 1,
      agreed: 0,
    });
    // Delivered results are dropped.
    expect((await call("GET", `/v1/judge/${id}`)).status).toBe(404);
  });

  it("a long poll that times out answers pending", async () => {
    const m = manualJudge();
    const { call } = await start(m.judge);
    const id = (await call("POST", "/v1/judge", submission())).body?.id as string;
    const t0 = performance.now();
    expect((await call("GET", `/v1/judge/${id}?wait_ms=200`)).body).toEqual({ status: "pending" });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(190);
  });

  it("limits judgements in flight to the configured concurrency", async () => {
    const m = manualJudge();
    const { call } = await start(m.judge, { concurrency: 2 });
    for (let i = 0; i < 5; i++) await call("POST", "/v1/judge", submission(i));
    await new Promise((r) => setTimeout(r, 50));
    expect(m.asked).toHaveLength(2);
    m.release();
    await until(() => m.asked.length >= 3);
    expect(m.asked).toHaveLength(3);
  });

  it("a failed judgement gives zero rewards, is counted, and an outage past the threshold raises stop", async () => {
    const records: Array<{ outcome: string; error?: string }> = [];
    const { service, call, stops } = await start(manualJudge("throw").judge, {
      outageThreshold: 3,
      onJudgement: (r) => records.push(r),
    });
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) ids.push((await call("POST", "/v1/judge", submission(i))).body?.id as string);
    for (const id of ids) {
      expect((await call("GET", `/v1/judge/${id}?wait_ms=30000`)).body).toEqual({
        status: "done",
        outcome: "failed",
        rewards: [0, 0],
        agreement: null,
        cached: false,
      });
    }
    expect(service.stats.failed).toBe(2);
    expect(records[0]?.error).toContain("VLM endpoint unreachable");
    // Two failures: below the threshold, training goes on.
    expect((await call("GET", "/v1/control")).body?.stop).toBe(false);
    const third = (await call("POST", "/v1/judge", submission(2))).body?.id as string;
    await call("GET", `/v1/judge/${third}?wait_ms=30000`);
    const control = await call("GET", "/v1/control");
    expect(control.body?.stop).toBe(true);
    expect(String(control.body?.reason)).toMatch(
      /judge outage: 3 consecutive judgements failed.*unreachable/,
    );
    expect(stops).toHaveLength(1);
    expect(service.stopReason).toBe(control.body?.reason);
  });

  it("a success resets the consecutive-failure count", async () => {
    let fail = true;
    const judge: PairJudge = {
      compare: async () => {
        if (fail) throw new Error("flaky");
        return { outcome: "tie", rewards: [0, 0], agreement: null, cached: false };
      },
    };
    const { service, call } = await start(judge, { outageThreshold: 2 });
    const id1 = (await call("POST", "/v1/judge", submission(0))).body?.id as string;
    await call("GET", `/v1/judge/${id1}?wait_ms=30000`);
    fail = false;
    const id2 = (await call("POST", "/v1/judge", submission(1))).body?.id as string;
    expect((await call("GET", `/v1/judge/${id2}?wait_ms=30000`)).body?.outcome).toBe("tie");
    fail = true;
    const id3 = (await call("POST", "/v1/judge", submission(2))).body?.id as string;
    await call("GET", `/v1/judge/${id3}?wait_ms=30000`);
    expect(service.stats).toMatchObject({ failed: 2, tie: 1, consecutiveFailures: 1 });
    expect(service.stopReason).toBeNull();
  });

  it("answers protocol errors with 400 naming the field, and unknown routes with 404", async () => {
    const { call } = await start(manualJudge().judge);
    const wrongVersion = await call("POST", "/v1/judge", { ...submission(), protocol: 2 });
    expect(wrongVersion.status).toBe(400);
    expect(String(wrongVersion.body?.error)).toMatch(/protocol v1.*protocol/);
    const oneImage = await call("POST", "/v1/judge", { ...submission(), images: ["/tmp/a.png"] });
    expect(oneImage.status).toBe(400);
    expect(String(oneImage.body?.error)).toContain("images");
    const notJson = await call("POST", "/v1/judge", "{not json");
    expect(notJson.status).toBe(400);
    expect(String(notJson.body?.error)).toContain("not JSON");
    expect((await call("POST", "/v1/metrics", { rank: 0, step: "one", metrics: {} })).status).toBe(400);
    expect((await call("POST", "/v1/event", { rank: 0, kind: "exploded" })).status).toBe(400);
    expect((await call("GET", "/v1/judge/abc123")).status).toBe(404);
    expect((await call("DELETE", "/v1/control")).status).toBe(404);
  });

  it("passes metrics and events on, and requestStop reaches the control endpoint once", async () => {
    const { service, call, events, metrics, stops } = await start(manualJudge().judge);
    expect(
      (await call("POST", "/v1/metrics", { rank: 0, step: 3, metrics: { reward_mean: 0.45, note: null } }))
        .status,
    ).toBe(204);
    expect(metrics).toEqual([{ rank: 0, step: 3, metrics: { reward_mean: 0.45, note: null } }]);
    expect(
      (await call("POST", "/v1/event", { rank: 0, kind: "checkpoint", data: { path: "/x" } })).status,
    ).toBe(204);
    expect(events).toEqual([{ rank: 0, kind: "checkpoint", data: { path: "/x" } }]);
    service.requestStop("interrupted: checkpointing");
    service.requestStop("second reason is ignored");
    expect((await call("GET", "/v1/control")).body).toEqual({
      protocol: 1,
      stop: true,
      reason: "interrupted: checkpointing",
    });
    expect(stops).toEqual(["interrupted: checkpointing"]);
  });
});

/**
 * The control and reward service (protocol v1) over real loopback HTTP: authentication, submit and
 * long-poll, failed judgements, the outage stop, protocol errors, metrics and events.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  advertisedHost,
  MAX_BODY_BYTES,
  type RewardJudge,
  type RewardService,
  startRewardService,
} from "../../src/train/reward-service.js";
import { until } from "../support/until.js";

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "arr-service-"));
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

const services: RewardService[] = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.close();
});

type Decision = Awaited<ReturnType<RewardJudge["compare"]>>;

/** A judge whose verdicts the test releases by hand (or that fails), recording what it was asked. */
function manualJudge(mode: "ok" | "throw" = "ok") {
  const asked: string[][] = [];
  const waiting: Array<(d: Decision) => void> = [];
  const judge: RewardJudge = {
    compare: ({ candidates }) => {
      asked.push(candidates.map(String));
      if (mode === "throw") return Promise.reject(new Error("VLM endpoint unreachable"));
      return new Promise((resolve) => waiting.push(resolve));
    },
  };
  const release = (d: Partial<Decision> = {}) =>
    waiting.shift()?.({ outcome: "decided", rewards: [1, -0.1], agreement: true, cached: false, ...d });
  return { judge, asked, release, waiting };
}

async function start(judge: RewardJudge, extra: Partial<Parameters<typeof startRewardService>[0]> = {}) {
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

  it("a failed judgement gives zero rewards, is counted, and failures lasting outage_seconds raise stop", async () => {
    const records: Array<{ outcome: string; error?: string }> = [];
    let clock = 1_000_000;
    const { service, call, stops } = await start(manualJudge("throw").judge, {
      outageSeconds: 20,
      now: () => clock,
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
    // 10 s of failures: shorter than the outage, training goes on.
    clock += 10_000;
    const second = (await call("POST", "/v1/judge", submission(2))).body?.id as string;
    await call("GET", `/v1/judge/${second}?wait_ms=30000`);
    expect((await call("GET", "/v1/control")).body?.stop).toBe(false);
    // 20 s without a success: an outage, whatever the number of judgements.
    clock += 10_000;
    const third = (await call("POST", "/v1/judge", submission(3))).body?.id as string;
    await call("GET", `/v1/judge/${third}?wait_ms=30000`);
    const control = await call("GET", "/v1/control");
    expect(control.body?.stop).toBe(true);
    expect(String(control.body?.reason)).toMatch(
      /judge outage: every judgement failed for 20 s \(4 in a row; last: .*unreachable/,
    );
    expect(stops).toHaveLength(1);
    expect(service.stopReason).toBe(control.body?.reason);
  });

  it("a success restarts the outage clock", async () => {
    let clock = 0;
    let fail = true;
    const judge: RewardJudge = {
      compare: async () => {
        if (fail) throw new Error("flaky");
        return { outcome: "tie", rewards: [0, 0], agreement: null, cached: false };
      },
    };
    const { service, call } = await start(judge, { outageSeconds: 20, now: () => clock });
    const id1 = (await call("POST", "/v1/judge", submission(0))).body?.id as string;
    await call("GET", `/v1/judge/${id1}?wait_ms=30000`);
    clock += 15_000;
    fail = false;
    const id2 = (await call("POST", "/v1/judge", submission(1))).body?.id as string;
    expect((await call("GET", `/v1/judge/${id2}?wait_ms=30000`)).body?.outcome).toBe("tie");
    fail = true;
    clock += 15_000; // 30 s since the first failure, but only 0 s since the last success
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

  it("judges only the run's own images and the dataset's sources; refused requests never reach the judge", async () => {
    const run = join(tmp, "run");
    await mkdir(join(run, "samples"), { recursive: true });
    const [a, b, secret, source] = ["samples/a.png", "samples/b.png", "../secret.png", "../source.png"].map(
      (n) => join(run, n),
    ) as [string, string, string, string];
    for (const path of [a, b, secret, source]) await writeFile(path, "png");
    await symlink(secret, join(run, "samples", "link.png"));
    const m = manualJudge();
    const { service, call } = await start(m.judge, { imageRoots: [run], sourceImages: new Set([source]) });
    const refused = async (patch: Record<string, unknown>, pattern: RegExp) => {
      const res = await call("POST", "/v1/judge", { ...submission(), images: [a, b], ...patch });
      expect(res.status).toBe(400);
      expect(String(res.body?.error)).toMatch(pattern);
    };
    await refused({ images: [a, secret] }, /secret\.png is outside the run directory/);
    await refused({ images: [a, join(run, "samples", "link.png")] }, /outside the run directory/);
    await refused({ images: [a, join(run, "samples", "..", "..", "secret.png")] }, /outside the run/);
    await refused({ images: [a, "/etc/passwd"] }, /outside the run directory/);
    await refused({ images: [a, "samples/b.png"] }, /absolute path/);
    await refused({ images: [a, join(run, "samples", "missing.png")] }, /not an existing file/);
    await refused({ source_image: secret }, /source_image: .* not one of the run's source images/);
    expect(m.asked).toEqual([]);
    expect(service.stats.submitted).toBe(0);
    expect(
      (await call("POST", "/v1/judge", { ...submission(), images: [a, b], source_image: source })).status,
    ).toBe(202);
    expect(m.asked).toEqual([[a, b]]);
  });

  it("answers 413 to a body over 1 MiB, and a flood of bad requests neither stops the run nor blocks it", async () => {
    const m = manualJudge();
    const run = join(tmp, "flood");
    await mkdir(run, { recursive: true });
    const [a, b] = [join(run, "a.png"), join(run, "b.png")];
    for (const path of [a, b]) await writeFile(path, "png");
    const { service, call } = await start(m.judge, { imageRoots: [run], outageSeconds: 0 });
    const huge = await call("POST", "/v1/judge", { ...submission(), prompt: "x".repeat(MAX_BODY_BYTES + 1) });
    expect(huge.status).toBe(413);
    const flood = await Promise.all(
      Array.from({ length: 200 }, (_, i) => {
        const kind = i % 4;
        if (kind === 0) return call("POST", "/v1/judge", { ...submission(i) }, "wrong-token");
        if (kind === 1) return call("POST", "/v1/judge", "{not json");
        if (kind === 2) return call("POST", "/v1/judge", { ...submission(i), images: ["/etc/passwd", a] });
        return call("GET", `/v1/judge/${i.toString(16)}`);
      }),
    );
    expect(new Set(flood.map((r) => r.status))).toEqual(new Set([401, 400, 404]));
    expect(service.stopReason).toBeNull();
    expect(m.asked).toEqual([]);
    // The service still works for the workers.
    const id = (await call("POST", "/v1/judge", { ...submission(), images: [a, b] })).body?.id as string;
    m.release();
    expect((await call("GET", `/v1/judge/${id}?wait_ms=30000`)).body?.outcome).toBe("decided");
    expect((await call("GET", "/v1/control")).body?.stop).toBe(false);
  });

  it("a worker group that starts drops the verdicts still in flight for the group before it", async () => {
    const m = manualJudge();
    const records: Array<{ index: number }> = [];
    const { call } = await start(m.judge, { onJudgement: (r) => records.push(r) });
    const old = (await call("POST", "/v1/judge", submission(0))).body?.id as string;
    expect((await call("POST", "/v1/event", { rank: 0, kind: "started", data: { update: 0 } })).status).toBe(
      204,
    );
    const fresh = (await call("POST", "/v1/judge", submission(1))).body?.id as string;
    m.release();
    m.release();
    for (const id of [old, fresh]) await call("GET", `/v1/judge/${id}?wait_ms=30000`);
    expect(records.map((r) => r.index)).toEqual([1]);
  });

  it("advertises an address other nodes can reach when bound to every interface", () => {
    const lo = { address: "127.0.0.1", family: "IPv4", internal: true } as const;
    const eth = { address: "10.1.2.3", family: "IPv4", internal: false } as const;
    const common = { netmask: "", mac: "", cidr: null };
    expect(advertisedHost("0.0.0.0", { lo: [{ ...common, ...lo }], eth0: [{ ...common, ...eth }] })).toBe(
      "10.1.2.3",
    );
    expect(advertisedHost("[::]", { eth0: [{ ...common, ...eth }] })).toBe("10.1.2.3");
    expect(advertisedHost("0.0.0.0", { lo: [{ ...common, ...lo }] })).toBe("127.0.0.1");
    expect(advertisedHost("192.168.0.7", {})).toBe("192.168.0.7");
  });
});

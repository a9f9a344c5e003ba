/**
 * Joining a multi-node run, short of launching workers: node 0's `GET /v1/join` and sample uploads
 * on the reward service, what `joinRun()` says when it cannot join, and where the joining CLI reads
 * the run's token (never argv). The two-node training itself is test/train/multinode-e2e.test.ts.
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { readJoinToken } from "../../src/cli/commands/train.js";
import { ConfigSchema } from "../../src/config/schema.js";
import { UsageError } from "../../src/errors.js";
import { workerConfig } from "../../src/runtime/payload.js";
import { joinRun } from "../../src/train/join.js";
import { JoinInfoSchema, joinCommand, joinInfo } from "../../src/train/join-info.js";
import { type RewardService, startRewardService } from "../../src/train/reward-service.js";
import { runPaths } from "../../src/train/run-dir.js";

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "arr-join-"));
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

const services: RewardService[] = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.close();
});

const TOKEN = "join-test-token";
const judge = { compare: () => Promise.reject(new Error("not judged here")) };

/** Node 0's join answer for a 2-node run whose run directory is under tmp. */
async function nodeZeroInfo(nnodes = 2) {
  const config = ConfigSchema.parse({
    train: {
      model: { family: "flux", path: "tiny" },
      dataset: { path: "p.txt" },
      distributed: { nnodes, rdzv_endpoint: "10.0.0.5:29400" },
    },
  });
  if (!config.train) throw new Error("unreachable");
  const paths = runPaths(join(tmp, "run-a"));
  await mkdir(paths.dir, { recursive: true });
  await writeFile(paths.prompts, '{"prompt":"a red apple","source_image":null}\n');
  const worker = workerConfig(
    { ...config, train: config.train },
    { runDir: paths.dir, promptsFile: paths.prompts, resume: false, serviceUrl: "http://10.0.0.5:4000" },
  );
  return joinInfo({ runId: "arr-0123", paths, distributed: config.train.distributed, worker });
}

async function serve(extra: Partial<Parameters<typeof startRewardService>[0]>) {
  const service = await startRewardService({ judge, token: TOKEN, ...extra });
  services.push(service);
  const call = (method: string, path: string, options: { token?: string | null; body?: Buffer } = {}) =>
    fetch(service.url + path, {
      method,
      headers: options.token === null ? {} : { authorization: `Bearer ${options.token ?? TOKEN}` },
      ...(options.body ? { body: options.body } : {}),
    });
  return { service, call };
}

describe("GET /v1/join", () => {
  it("gives a token holder the rendezvous, node 0's run.json and its prompts", async () => {
    const info = await nodeZeroInfo();
    const { call } = await serve({ join: () => info });
    expect((await call("GET", "/v1/join", { token: null })).status).toBe(401);
    expect((await call("GET", "/v1/join", { token: "wrong" })).status).toBe(401);
    const reply = await call("GET", "/v1/join");
    expect(reply.status).toBe(200);
    const body = JoinInfoSchema.parse(await reply.json());
    expect(body).toMatchObject({ run_id: "arr-0123", run_name: "run-a" });
    expect(body.distributed).toMatchObject({
      nnodes: 2,
      rdzv_endpoint: "10.0.0.5:29400",
      shared_run_dir: false,
    });
    expect(body.worker.service).toEqual({ url: "http://10.0.0.5:4000", token: null });
    expect(body.prompts).toContain("a red apple");
    // The answer carries no credential: the token a joiner holds is all its workers need.
    expect(JSON.stringify(body)).not.toContain(TOKEN);
  });

  it("is 503 while the run starts, and 404 on a single-node run", async () => {
    const starting = await serve({ join: () => null });
    expect((await starting.call("GET", "/v1/join")).status).toBe(503);
    const single = await serve({});
    expect((await single.call("GET", "/v1/join")).status).toBe(404);
  });
});

describe("sample uploads (nodes without node 0's run directory)", () => {
  it("stores a sample under the upload folder, returns its path there, and deletes it on request", async () => {
    const dir = join(tmp, "uploads");
    const { call } = await serve({ uploadDir: dir });
    const png = Buffer.from("not really a png, the service does not decode");
    const put = await call("PUT", "/v1/samples/r1-o0-p0-c1.png", { body: png });
    expect(put.status).toBe(201);
    const { path } = (await put.json()) as { path: string };
    expect(path).toBe(join(dir, "r1-o0-p0-c1.png"));
    expect((await readFile(path)).equals(png)).toBe(true);
    expect((await call("PUT", "/v1/samples/x.png", { body: png, token: "wrong" })).status).toBe(401);
    expect((await call("DELETE", "/v1/samples/r1-o0-p0-c1.png")).status).toBe(204);
    expect(existsSync(path)).toBe(false);
  });

  it("refuses names that are paths or not PNGs, and has no route without an upload folder", async () => {
    const { call } = await serve({ uploadDir: join(tmp, "uploads-2") });
    for (const name of ["..%2Fescape.png", ".hidden.png", "run.json", "%2Fetc%2Fpasswd.png"]) {
      expect((await call("PUT", `/v1/samples/${name}`, { body: Buffer.from("x") })).status, name).toBe(400);
    }
    const none = await serve({});
    expect((await none.call("PUT", "/v1/samples/r1.png", { body: Buffer.from("x") })).status).toBe(404);
  });
});

describe("joinRun() before launching anything", () => {
  it("names the fix for a wrong token, a single-node run, and a node rank out of range", async () => {
    const info = await nodeZeroInfo(3);
    const multi = await serve({ join: () => info });
    const fail = (options: Parameters<typeof joinRun>[0]) =>
      joinRun(options).then(
        () => null,
        (e: unknown) => e as UsageError,
      );
    const wrong = await fail({ url: multi.service.url, token: "wrong" });
    expect(wrong).toBeInstanceOf(UsageError);
    expect(wrong?.hint).toMatch(/ARR_JOIN_TOKEN/);
    // Three nodes: the rank must be given, and be one of the other nodes'.
    expect((await fail({ url: multi.service.url, token: TOKEN }))?.message).toMatch(/1 to 2/);
    expect((await fail({ url: multi.service.url, token: TOKEN, nodeRank: 3 }))?.message).toMatch(/1 to 2/);
    expect((await fail({ url: multi.service.url, token: TOKEN, nodeRank: 0 }))?.message).toMatch(/1 to 2/);
    const single = await serve({});
    expect((await fail({ url: single.service.url, token: TOKEN }))?.message).toMatch(/nnodes is 1/);
  });
});

describe("the joining node's token", () => {
  const stdin = (text: string | null) =>
    Object.assign(Readable.from(text === null ? [] : [text]), {
      isTTY: text === null,
    }) as unknown as NodeJS.ReadStream;

  it("comes from ARR_JOIN_TOKEN, else from piped stdin, never from argv", async () => {
    expect(await readJoinToken({ ARR_JOIN_TOKEN: " abc \n" }, stdin("ignored\n"))).toBe("abc");
    expect(await readJoinToken({}, stdin("from-a-pipe\nrest\n"))).toBe("from-a-pipe");
    await expect(readJoinToken({}, stdin(null))).rejects.toThrow(/ARR_JOIN_TOKEN/);
    await expect(readJoinToken({}, stdin(""))).rejects.toThrow(/ARR_JOIN_TOKEN/);
  });

  it("is shown by node 0 by reference when the user gave it, by value only when node 0 made it", () => {
    expect(joinCommand("http://h:1", "N", null)).toBe(
      "ARR_JOIN_TOKEN=$ARR_JOIN_TOKEN arr train --join http://h:1 --node-rank N",
    );
    expect(joinCommand("http://h:1", 1, "f00d")).toBe(
      "ARR_JOIN_TOKEN=f00d arr train --join http://h:1 --node-rank 1",
    );
  });
});

/**
 * The run directory's records without workers: redacted config and manifest (with a run id kept
 * across resumes), a resume that refuses redacted values, rows rewound to a checkpoint, and
 * summary.json across sessions.
 */
import { appendFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/errors.js";
import { createRunDir, openRunDir, redactedPaths, writeManifest } from "../../src/train/run-dir.js";
import { readSummary, recordSession, rewindRecords } from "../../src/train/run-records.js";
import { train } from "../../src/train/train.js";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "arr-records-"));
});
afterAll(() => rm(root, { recursive: true, force: true }));

const python = { path: "/usr/bin/python3", versions: {} };

describe("run records", () => {
  it("writes config and manifest redacted, keeps the run id, and a resume asks for redacted values again", async () => {
    const { config } = await loadConfig({
      preset: "tiny-cpu",
      set: [`run.output_dir=${root}`, "vlm.extra_body={api_key: sk-live-123456, top_k: 20}"],
    });
    const paths = await createRunDir(config);
    const stored = await readFile(paths.config, "utf8");
    expect(stored).not.toContain("sk-live-123456");
    expect(stored).toContain("<redacted>");
    const id = await writeManifest(paths, { config, python, rubricHash: null });
    expect(id).toMatch(/^arr-[0-9a-f]{16}$/);
    expect(await writeManifest(paths, { config, python, rubricHash: null })).toBe(id);
    expect(JSON.parse(await readFile(paths.manifest, "utf8")).run_id).toBe(id);

    const reopened = await openRunDir(paths.dir);
    expect(redactedPaths(reopened.config)).toEqual(["vlm.extra_body.api_key"]);
    const error = await train({ resume: paths.dir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain("vlm.extra_body.api_key");
  });

  it("rewinds metrics, evals and judgements to a checkpoint, and summary.json adds up the sessions", async () => {
    const { config } = await loadConfig({ preset: "tiny-cpu", set: [`run.output_dir=${root}`] });
    const paths = await createRunDir(config, { dir: join(root, "rewind") });
    for (const step of [1, 2, 3]) await appendFile(paths.metrics, `${JSON.stringify({ step })}\n`);
    await appendFile(paths.metrics, '{"step": 4, "cut sho'); // a crash mid-append
    for (const step of [0, 1, 2, 2]) {
      await appendFile(
        paths.judgements,
        `${JSON.stringify({ step, outcome: step === 1 ? "tie" : "decided" })}\n`,
      );
    }
    for (const update of [2, 4]) await appendFile(paths.evals, `${JSON.stringify({ update })}\n`);
    expect(rewindRecords(paths, 2)).toEqual({ metrics: 2, judgements: 2, evals: 1 });
    const rows = async (file: string) =>
      (await readFile(file, "utf8"))
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).step);
    expect(await rows(paths.metrics)).toEqual([1, 2]);
    expect(await rows(paths.judgements)).toEqual([0, 1]);
    expect((await readFile(paths.evals, "utf8")).trim()).toBe('{"update":2}');
    expect(rewindRecords(paths, 2)).toEqual({ metrics: 0, judgements: 0, evals: 0 });

    const session = (from: number, to: number, calls: number) => ({
      started: "t0",
      ended: "t1",
      fromUpdate: from,
      toUpdate: to,
      stopReason: to < 4 ? "interrupted" : null,
      exit: { exitCode: 0, signal: null },
      restarts: 0,
      usage: { calls, tokens: 10 * calls, cost: 0 },
    });
    await recordSession(paths, session(0, 2, 3), { maxSteps: 4, lastMetrics: { step: 2 } });
    expect(await readSummary(paths)).toMatchObject({
      finished: false,
      updates: 2,
      stopReason: "interrupted",
    });
    const summary = await recordSession(paths, session(2, 4, 5), { maxSteps: 4, lastMetrics: null });
    expect(summary).toMatchObject({
      finished: true,
      updates: 4,
      stopReason: null,
      usage: { calls: 8, tokens: 80 },
      judgements: { decided: 1, tie: 1, invalid: 0, failed: 0 },
      lastMetrics: { step: 2 },
    });
    expect(summary.sessions).toHaveLength(2);
  });
});

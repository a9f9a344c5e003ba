/**
 * HEAVY (three `arr train` launches of 1-2 CPU workers, about 90 s on 2 busy cores): no process outlives
 * the run, whatever is killed, and the exit status says what happened.
 *
 * `arr train` runs as a real child process (node + tsx, one process) on the tiny-cpu preset, so the
 * test can SIGKILL it. torch starts workers in new sessions, so only the lifeline
 * (py-runtime/autorubric_runtime/lifeline.py) can take them down with their parent:
 *
 * - SIGKILL of the controller: torchrun and both workers end;
 * - SIGKILL of torchrun: the workers end, and `arr` fails (exit 1) naming the last checkpoint;
 * - Ctrl-C twice: the workers are killed, `arr` exits 3 (stopped early) with the resume command.
 *
 * Waits are on events (a metrics row, process exit), each bounded only to catch a hang.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const HANG_MS = 300_000;
/** The issue asks for 5 s; the lifeline acts in well under a second, this only allows a busy machine. */
const GONE_WITHIN_MS = 15_000;

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "arr-orphans-"));
});
afterAll(() => rm(root, { recursive: true, force: true }));

interface Launched {
  child: ChildProcess;
  dir: string;
  stderr: string[];
  exited: Promise<{ code: number | null; signal: string | null; err: string }>;
}

/** `arr train` on the tiny preset, long enough never to finish during the test. */
function launch(name: string, workers: number): Launched {
  const dir = join(root, name);
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "src/cli/main.ts",
      "train",
      "--preset",
      "tiny-cpu",
      "--set",
      `run.output_dir=${dir}`,
      "--set",
      "train.max_steps=200",
      "--set",
      "train.checkpoint_every=1",
      "--set",
      "train.eval_every=0",
      "--set",
      `train.distributed.nproc_per_node=${workers}`,
    ],
    {
      // A credential the workers must not inherit, and the hub token they may.
      env: { ...process.env, OPENAI_API_KEY: "sk-not-for-workers", HF_TOKEN: "hf_for_workers" },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  const stderr: string[] = [];
  child.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk.toString("utf8")));
  const exited = new Promise<{ code: number | null; signal: string | null; err: string }>((resolve) => {
    child.once("close", (code, signal) => resolve({ code, signal, err: stderr.join("") }));
  });
  return { child, dir, stderr, exited };
}

function stderrOf(run: Launched): string {
  return run.stderr.join("");
}

/** Processes whose command line mentions the run's output directory: torchrun and its workers. */
function processes(dir: string): Array<{ pid: number; args: string }> {
  return execFileSync("ps", ["-eo", "pid,stat,args"], { encoding: "utf8" })
    .split("\n")
    .map((line) => /^\s*(\d+)\s+(\S+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null && !m[2]?.startsWith("Z") && (m[3] ?? "").includes(dir))
    .map((m) => ({ pid: Number(m[1]), args: m[3] ?? "" }));
}

async function until<T>(what: string, probe: () => T | null | undefined | false): Promise<T> {
  const deadline = Date.now() + HANG_MS;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`hang: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the run has trained an update, then returns torchrun's and the workers' pids. */
async function running(run: Launched, count: number): Promise<{ torchrun: number; workers: number[] }> {
  await until("a first metrics row", () => {
    const runs = existsSync(run.dir) ? execFileSync("ls", [run.dir], { encoding: "utf8" }).trim() : "";
    const metrics = runs ? join(run.dir, runs.split("\n")[0] as string, "metrics.jsonl") : "";
    return metrics && existsSync(metrics) && readFileSync(metrics, "utf8").trim() !== "";
  });
  const procs = processes(run.dir);
  const torchrun = procs.find((p) => p.args.includes("autorubric_runtime.launch"));
  const workers = procs.filter((p) => p.args.includes("autorubric_runtime.worker") && p !== torchrun);
  expect(torchrun).toBeDefined();
  expect(workers).toHaveLength(count);
  return { torchrun: torchrun?.pid as number, workers: workers.map((w) => w.pid) };
}

/** Milliseconds until no process of the run is left (throws on a hang). */
async function goneIn(dir: string): Promise<number> {
  const start = Date.now();
  await until("the run's processes to end", () => processes(dir).length === 0);
  return Date.now() - start;
}

describe("no orphans, honest exit codes (HEAVY: 3 launches)", { timeout: 600_000 }, () => {
  it("SIGKILL of the controller takes torchrun and the workers down; workers never saw the credential", async () => {
    const run = launch("controller-kill", 1);
    const { workers } = await running(run, 1);
    const environ = readFileSync(`/proc/${workers[0]}/environ`, "utf8").split("\0");
    expect(environ).toContain("HF_TOKEN=hf_for_workers");
    expect(environ.some((v) => v.startsWith("OPENAI_API_KEY="))).toBe(false);
    expect(environ.some((v) => v.startsWith("ARR_SERVICE_TOKEN="))).toBe(true);
    run.child.kill("SIGKILL");
    await run.exited;
    expect(await goneIn(run.dir)).toBeLessThan(GONE_WITHIN_MS);
  });

  it("SIGKILL of torchrun takes the workers down and arr fails naming the last checkpoint", async () => {
    const run = launch("torchrun-kill", 2);
    const { torchrun } = await running(run, 2);
    process.kill(torchrun, "SIGKILL");
    expect(await goneIn(run.dir)).toBeLessThan(GONE_WITHIN_MS);
    const { code, err } = await run.exited;
    expect(code).toBe(1);
    expect(err).toMatch(
      /a training worker failed \(exit SIGKILL\); the last good checkpoint is .*checkpoint-\d+/,
    );
    expect(err).toMatch(/arr train --resume /);
  });

  it("Ctrl-C twice kills the workers and exits 3 with the resume command", async () => {
    const run = launch("ctrl-c-twice", 1);
    await running(run, 1);
    run.child.kill("SIGINT");
    // Signals of one kind sent back to back may merge into one: the second follows the first's notice.
    await until("the first Ctrl-C's notice", () => stderrOf(run).includes("interrupted: checkpointing"));
    run.child.kill("SIGINT");
    const { code, err } = await run.exited;
    expect(await goneIn(run.dir)).toBeLessThan(GONE_WITHIN_MS);
    expect(code).toBe(3);
    expect(err).toContain("interrupted again: killing the workers");
    expect(err).toMatch(/stopped early; continue it with `arr train --resume .*`/);
  });
});

/**
 * A multi-node run on one machine: node 0 (`train()`, which owns the judge, the reward service and
 * the run directory) and node 1 (`joinRun()`, what `arr train --join` runs), one gloo worker each,
 * rendezvous on loopback. Node 1 keeps its own copy of the run directory, so nothing relies on a
 * shared filesystem: its samples reach the judge by upload, its ranks' checkpoint state stays in
 * its copy, and the eval grid's tiles travel to rank 0 over the process group.
 *
 * The 2 x 1 run must train exactly like 1 node x 2 workers with the same seeds: the same LoRA at the
 * checkpoint where node 0 stopped it (Ctrl-C), and the same again after both nodes resume to the end.
 * Three launches in all (the reference run, the stopped run, its resume).
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Config } from "../../src/config/schema.js";
import { type JoinResult, joinRun } from "../../src/train/join.js";
import { openRunDir, readMetrics } from "../../src/train/run-dir.js";
import { type TrainOptions, type TrainResult, train } from "../../src/train/train.js";
import { brighterJudge, SHORT_RUN, tensors, tinyRunConfig } from "../support/training.js";

const TOKEN = "multi-node-e2e-token-0123456789abcdef";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "arr-multinode-e2e-"));
});
afterAll(() => rm(root, { recursive: true, force: true }));

function config(name: string, set: string[] = []): Promise<Config> {
  return tinyRunConfig(root, name, [...SHORT_RUN, ...set]);
}

/** A port nobody listens on now (for torchrun's rendezvous). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Node 0 runs `train()`; node 1 joins as soon as node 0 says it can, with its own run directory. */
async function twoNodes(
  options: TrainOptions,
  node1Dir: string,
): Promise<{ node0: TrainResult; node1: JoinResult }> {
  const kill = new AbortController();
  let node1: Promise<JoinResult> | null = null;
  const node0 = await train({
    ...options,
    serviceToken: TOKEN,
    killSignal: kill.signal,
    onJoinable: (url) => {
      node1 = joinRun({ url, token: TOKEN, runDir: node1Dir });
      // A node that cannot join would leave node 0 waiting in the rendezvous: end it instead.
      node1.catch(() => kill.abort());
    },
  });
  if (node1 === null) throw new Error("node 0 never offered the run to other nodes");
  return { node0, node1: await node1 };
}

/** The LoRA tensors of a checkpoint (the diffusers-format files). */
async function loraOf(checkpoint: string): Promise<Map<string, string>> {
  const names = (await readdir(join(checkpoint, "lora"))).filter((n) => n.endsWith(".safetensors"));
  const all = new Map<string, string>();
  for (const name of names) for (const [k, v] of await tensors(join(checkpoint, "lora", name))) all.set(k, v);
  return all;
}

function survivors(runDir: string): string[] {
  const out = execFileSync("ps", ["-eo", "pid,args"], { encoding: "utf8" });
  return out.split("\n").filter((line) => line.includes(runDir) && line.includes("autorubric_runtime"));
}

describe("2 nodes x 1 worker train exactly like 1 node x 2 workers", { timeout: 600_000 }, () => {
  let single: TrainResult;
  let multi: TrainResult;
  const node1Dir = () => join(root, "node1-copy");

  it("1 node x 2 workers: the reference run", async () => {
    single = await train({ config: await config("single"), judge: brighterJudge([]) });
    expect(single).toMatchObject({ updates: 4, stopReason: null });
  });

  it("2 nodes x 1 worker, stopped at update 2: same LoRA, each node holds its own ranks' state", async () => {
    const port = await freePort();
    const judged: string[][] = [];
    const stop = new AbortController();
    const { node0, node1 } = await twoNodes(
      {
        config: await config("multi", [
          "train.distributed.nproc_per_node=1",
          "train.distributed.nnodes=2",
          `train.distributed.rdzv_endpoint=127.0.0.1:${port}`,
        ]),
        judge: brighterJudge(judged),
        signal: stop.signal,
        onProgress: (p) => {
          if (p.update === 2) stop.abort();
        },
      },
      node1Dir(),
    );
    multi = node0;
    expect(node0).toMatchObject({ updates: 2 });
    expect(node0.stopReason).toMatch(/interrupted/);
    expect(node1).toMatchObject({ nodeRank: 1, runDir: node1Dir(), exit: { exitCode: 0 } });
    expect((await readMetrics(node0.paths)).map((m) => m.step)).toEqual([1, 2]);

    // Node 1's samples were uploaded into node 0's run directory, where the judge read them.
    const rank1 = judged.filter((pair) =>
      pair.every((p) => /\/samples\/uploaded\/r1-o\d+-p0-c[01]\.png$/.test(p)),
    );
    const rank0 = judged.filter((pair) => pair.every((p) => /\/samples\/r0-o\d+-p0-c[01]\.png$/.test(p)));
    expect([rank0.length, rank1.length]).toEqual([2, 2]);
    expect(rank1.flat().every((p) => p.startsWith(node0.paths.dir))).toBe(true);

    // Each node finalized its own checkpoint folder with the state of the ranks it runs.
    const at0 = join(node0.paths.checkpoints, "checkpoint-2");
    const at1 = join(node1Dir(), "checkpoints", "checkpoint-2");
    for (const dir of [node0.paths.checkpoints, join(node1Dir(), "checkpoints")]) {
      expect((await readFile(join(dir, "latest"), "utf8")).trim()).toBe("checkpoint-2");
    }
    expect((await readdir(at0)).sort()).toEqual(
      [
        "lora",
        "optimizer-rank0.pt",
        "pending-rank0.pt",
        "rng-rank0.pt",
        "scheduler.pt",
        "state.json",
        "trainable.safetensors",
      ].sort(),
    );
    expect((await readdir(at1)).sort()).toEqual([
      "optimizer-rank1.pt",
      "pending-rank1.pt",
      "rng-rank1.pt",
      "scheduler.pt",
      "state.json",
    ]);
    expect(JSON.parse(await readFile(join(at1, "state.json"), "utf8"))).toMatchObject({
      update: 2,
      world_size: 2,
    });
    // The eval grid was assembled on node 0 from both ranks' tiles.
    expect(existsSync(join(node0.paths.grids, "eval-000002.png"))).toBe(true);

    const theirs = join(single.paths.checkpoints, "checkpoint-2");
    const trainable = await readFile(join(at0, "trainable.safetensors"));
    expect(trainable.equals(await readFile(join(theirs, "trainable.safetensors")))).toBe(true);
    expect(await loraOf(at0)).toEqual(await loraOf(theirs));
    expect(survivors(node0.paths.dir)).toEqual([]);
    expect(survivors(node1Dir())).toEqual([]);
  });

  it("both nodes resume to update 4 and end with the reference run's LoRA", async () => {
    const { config: stored } = await openRunDir(multi.runDir);
    const port = await freePort();
    if (!stored.train) throw new Error("the stored config has a train section");
    const resumed = {
      ...stored,
      train: {
        ...stored.train,
        distributed: { ...stored.train.distributed, rdzv_endpoint: `127.0.0.1:${port}` },
      },
    };
    const { node0, node1 } = await twoNodes(
      { resume: multi.runDir, config: resumed, judge: brighterJudge([]) },
      node1Dir(),
    );
    expect(node0).toMatchObject({ updates: 4, stopReason: null });
    expect(node1.exit.exitCode).toBe(0);
    expect((await readMetrics(node0.paths)).map((m) => m.step)).toEqual([1, 2, 3, 4]);
    const ours = join(node0.paths.checkpoints, "checkpoint-4");
    const theirs = join(single.paths.checkpoints, "checkpoint-4");
    const trainable = await readFile(join(ours, "trainable.safetensors"));
    expect(trainable.equals(await readFile(join(theirs, "trainable.safetensors")))).toBe(true);
    // ... and training moved the weights after the resume (the equality is not between untouched LoRAs).
    expect(
      trainable.equals(
        await readFile(join(node0.paths.checkpoints, "checkpoint-2", "trainable.safetensors")),
      ),
    ).toBe(false);
    const lora = await loraOf(ours);
    expect(lora.size).toBeGreaterThan(0);
    expect(lora).toEqual(await loraOf(theirs));
    expect(existsSync(join(node1Dir(), "checkpoints", "checkpoint-4", "rng-rank1.pt"))).toBe(true);
    expect(survivors(node0.paths.dir)).toEqual([]);
    expect(survivors(node1Dir())).toEqual([]);
  });
});

/**
 * `npm run bench`: every CPU benchmark in one run, written to bench/results.json and rendered into
 * bench/RESULTS.md (machine, date, figures, targets). Sections: judge throughput and overhead, the
 * reference-style baseline side by side, the Python bridge, the training step split, reading a
 * parquet image shard.
 *
 *   npm run bench                        everything (about 5 minutes on 2 cores)
 *   npm run bench -- --only judge,bridge  a subset (judge, baseline, bridge, train, parquet)
 *   npm run bench -- --quick             fewer pairs and steps (a smoke run; figures are noisier)
 *   npm run bench -- --no-write          print the JSON, leave RESULTS.md alone
 *   npm run bench -- --render            rewrite RESULTS.md from bench/results.json
 */
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { pythonEnv, resolvePython } from "../src/runtime/python.js";
import { ensureBaselineVenv, type SideBySideRow, sideBySide } from "./baseline.js";
import { type BridgeResult, benchBridge } from "./bridge.js";
import {
  type OverheadRow,
  overhead,
  type ThroughputClient,
  type ThroughputRow,
  throughput,
} from "./judge.js";
import { writePhotoLike } from "./lib/images.js";
import { renderResults } from "./lib/report.js";
import { startServerProcess } from "./lib/server-process.js";
import { benchStages, type StagesResult } from "./lib/stages.js";
import { benchParquet, type ParquetResult } from "./parquet.js";
import { benchTrainSplit, type SplitRow } from "./train-split.js";

const SECTIONS = ["judge", "baseline", "bridge", "train", "parquet"] as const;

const HERE = fileURLToPath(new URL(".", import.meta.url));

export interface BenchResults {
  date: string;
  quick: boolean;
  machine: Record<string, unknown>;
  /** 1-minute load average before and after each section (other work on the machine skews wall times). */
  load: Record<string, [number, number]>;
  /** When each section was measured (a partial run keeps older sections). */
  sections: Record<string, string>;
  judge?: { throughput: ThroughputRow[]; overhead: OverheadRow[]; stages: StagesResult };
  baseline?: { latencyMs: number; imageSize: number; rows: SideBySideRow[] };
  bridge?: BridgeResult;
  train?: { rows: SplitRow[]; steps: number } | { error: string };
  parquet?: ParquetResult;
  durationS: number;
}

function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

async function machine(): Promise<Record<string, unknown>> {
  const pkg = JSON.parse(readFileSync(join(HERE, "..", "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
  };
  let py: Record<string, unknown> = {};
  try {
    const r = await execa(
      resolvePython().path,
      [
        "-c",
        "import json,platform,torch,diffusers;print(json.dumps({'python':platform.python_version(),'torch':torch.__version__,'diffusers':diffusers.__version__}))",
      ],
      { env: pythonEnv() },
    );
    py = JSON.parse(r.stdout.trim()) as Record<string, unknown>;
  } catch (error) {
    py = { error: error instanceof Error ? error.message.split("\n")[0] : String(error) };
  }
  return {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    openaiNode: pkg.dependencies.openai,
    sharp: pkg.dependencies.sharp,
    ...py,
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes("--render")) {
    // Re-render RESULTS.md from results.json (after a change to the report, without re-measuring).
    const saved = JSON.parse(readFileSync(join(HERE, "results.json"), "utf8")) as BenchResults;
    await writeFile(join(HERE, "RESULTS.md"), renderResults(saved));
    return;
  }
  const quick = argv.includes("--quick");
  const onlyArg = argv.find((_a, i) => argv[i - 1] === "--only") ?? argv.find((a) => a.startsWith("--only="));
  const only = new Set(
    (onlyArg?.replace(/^--only=/, "") ?? SECTIONS.join(",")).split(",").map((s) => s.trim()),
  );
  const t0 = performance.now();
  const results: BenchResults = {
    date: new Date().toISOString(),
    quick,
    machine: await machine(),
    load: {},
    sections: {},
    durationS: 0,
  };
  const work = await mkdtemp(join(tmpdir(), "arr-bench-"));
  const section = async (name: string, fn: () => Promise<void>) => {
    if (!only.has(name)) return;
    const before = loadavg()[0] as number;
    log(`${name}: start (load ${before.toFixed(1)})`);
    const s0 = performance.now();
    await fn();
    results.load[name] = [before, loadavg()[0] as number];
    results.sections[name] = new Date().toISOString();
    log(`${name}: done in ${((performance.now() - s0) / 1000).toFixed(0)} s`);
  };
  await section("parquet", async () => {
    results.parquet = await benchParquet(work, quick ? 40 : 200, log);
  });
  // Every other section talks to the fixed-latency server; a parquet-only run starts none.
  const serverSections = ["judge", "baseline", "bridge", "train"].filter((s) => only.has(s));
  const server = serverSections.length > 0 ? await startServerProcess() : null;
  try {
    if (server) {
      const i512 = await writePhotoLike(join(work, "img"), 512, 8, 1);
      const i1024 = await writePhotoLike(join(work, "img"), 1024, quick ? 4 : 8, 2);

      await section("judge", async () => {
        // Ten waves per row (pairs = 10 x concurrency): the one-time ramp of the first wave, when every
        // request is prepared at once, weighs a tenth of the run rather than a third.
        const waves = quick ? 3 : 10;
        const plan: Array<[number, number]> = [200, 1000].flatMap((lat) =>
          [1, 8, 32, 64].map((c): [number, number] => [lat, c]),
        );
        const tp: ThroughputRow[] = [];
        // Controls at 200 ms x 32: the judge with 32x32 images (a few KB per request) separates the
        // per-call work from the image bytes; bare undici requests with a prebuilt 3 KB or 1 MB body
        // show what the stand-in, loopback and scheduling on this machine allow at each size.
        const i32 = await writePhotoLike(join(work, "img"), 32, 8, 3);
        const rows: Array<[ThroughputClient, number, number, number]> = [
          ...plan.map(([lat, c]): [ThroughputClient, number, number, number] => [
            { kind: "judge", images: i512 },
            512,
            lat,
            c,
          ]),
          [{ kind: "judge", images: i32 }, 32, 200, 32],
          [{ kind: "raw-http", bodyBytes: 3_000 }, 0, 200, 32],
          [{ kind: "raw-http", bodyBytes: 1_000_000 }, 0, 200, 32],
        ];
        for (const [client, px, lat, c] of rows) {
          const row = await throughput(server, client, px, lat, c, waves * c);
          log(
            `  ${client.kind} ${px} px, ${lat} ms x ${c}: ${row.pairsPerS.toFixed(1)} pairs/s (${(row.ratio * 100).toFixed(0)}% of ideal)`,
          );
          tp.push(row);
        }
        const n = quick ? 10 : 30;
        const ov: OverheadRow[] = [
          await overhead(server, i512, 512, "png, max_side 1024 (default)", {}, n),
          await overhead(server, i1024, 1024, "png, max_side 1024 (default)", {}, Math.ceil(n / 2)),
          await overhead(server, i1024, 1024, "png, max_side 512", { max_side: 512 }, Math.ceil(n / 2)),
          await overhead(server, i512, 512, "jpeg q90", { format: "jpeg" }, n),
          await overhead(server, i1024, 1024, "jpeg q90, max_side 512", { format: "jpeg", max_side: 512 }, n),
        ];
        await server.setLatency(0);
        const stages = await benchStages(server.url, [i512[0] as string, i512[1] as string]);
        results.judge = { throughput: tp, overhead: ov, stages };
      });

      await section("baseline", async () => {
        const env = await ensureBaselineVenv(log);
        const rows = await sideBySide(server, env, i1024, quick ? 8 : 32, 200);
        results.baseline = { latencyMs: 200, imageSize: 1024, rows };
      });

      await section("bridge", async () => {
        results.bridge = await benchBridge(i512[0] as string);
      });

      await section("train", async () => {
        const steps = quick ? 3 : 6;
        try {
          const out = join(work, "runs");
          await mkdir(out, { recursive: true });
          results.train = { rows: await benchTrainSplit(out, steps, log), steps };
        } catch (error) {
          const msg = error instanceof Error ? error.message : String(error);
          log(`train split failed: ${msg}`);
          results.train = { error: msg.split("\n").slice(0, 8).join("\n") };
        }
      });
    }
  } finally {
    await server?.close();
    await rm(work, { recursive: true, force: true });
  }
  results.durationS = (performance.now() - t0) / 1000;
  if (argv.includes("--no-write")) {
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    return;
  }
  const file = join(HERE, "results.json");
  if (only.size < SECTIONS.length && existsSync(file)) {
    // A partial run keeps the other sections of the previous full run (their dates in `sections`).
    const prev = JSON.parse(readFileSync(file, "utf8")) as BenchResults;
    for (const k of SECTIONS) {
      if (!only.has(k) && prev[k] !== undefined) {
        (results as unknown as Record<string, unknown>)[k] = prev[k];
        results.sections[k] = prev.sections?.[k] ?? prev.date;
        if (prev.load[k]) results.load[k] = prev.load[k];
      }
    }
  }
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(join(HERE, "RESULTS.md"), renderResults(results));
  log(`wrote bench/results.json and bench/RESULTS.md in ${results.durationS.toFixed(0)} s`);
}

await main();

/**
 * Benchmark files in the exact upstream layouts (MMRB2 and EditReward-Bench parquet shards with
 * embedded images and `huggingface` schema metadata, HPDv3 test.json with one image missing),
 * written at test time by benchmark_fixtures.py with pyarrow, the library `datasets` writes with.
 * The gray levels of the images, and so every accuracy the brightness-preferring stand-in VLM
 * reaches on them, are listed in that script.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolvePython } from "../../src/runtime/python.js";

const SCRIPT = join(import.meta.dirname, "benchmark_fixtures.py");

/** A fresh folder holding `mmrb2/`, `editreward-bench/` and `hpdv3/`. */
export async function makeBenchmarkFixtures(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "arr-benchmarks-"));
  execFileSync(resolvePython().path, [SCRIPT, dir], { stdio: ["ignore", "ignore", "inherit"] });
  return dir;
}

/** One parquet shard of about `megabytes` MB of unique 512x512 PNGs (for the bench). */
export function makeBenchShard(file: string, megabytes: number, codec: "datasets" | "snappy"): void {
  execFileSync(
    resolvePython().path,
    [SCRIPT, "--bench-shard", file, "--mb", String(megabytes), "--codec", codec],
    {
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
}

/** A fresh folder holding the parquet reader's test shards and their images' sha256 (see the script). */
export async function makeReaderShards(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "arr-parquet-"));
  execFileSync(resolvePython().path, [SCRIPT, "--reader-shards", dir], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  return dir;
}

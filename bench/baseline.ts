/**
 * The same judging workload through the reference release's approach (bench/baseline/, Python
 * asyncio + openai-python, one event loop per pair, images sent unresized) and through ours, side
 * by side: calls, request bytes (counted at the server), wall time. Each is run twice over the same
 * pairs: the second pass is what a rerun, a resumed evaluation or a repeated comparison costs.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import type { ImageEncoding } from "../src/config/schema.js";
import type { OrderPolicy } from "../src/judge/judge.js";
import { benchJudge, pairInputs } from "./judge.js";
import type { ServerProcess } from "./lib/server-process.js";

/** The openai-python release the baseline venv pins (newest on PyPI when this was written). */
export const OPENAI_PY_VERSION = "3.51.0";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const VENV = join(HERE, ".venv-baseline");
const SCRIPT = join(HERE, "baseline", "reference_style_judge.py");

export interface BaselineEnv {
  python: string;
  /** "openai-python X" or "urllib (fallback: <why>)". */
  client: string;
  useUrllib: boolean;
}

/** Creates bench/.venv-baseline with the pinned openai-python once; falls back to urllib. */
export async function ensureBaselineVenv(log: (line: string) => void): Promise<BaselineEnv> {
  const python = join(VENV, "bin", "python");
  const check = async () =>
    (
      await execa(python, ["-c", "import openai; print(openai.__version__)"], { reject: false })
    ).stdout.trim();
  if (existsSync(python) && (await check()) === OPENAI_PY_VERSION) {
    return { python, client: `openai-python ${OPENAI_PY_VERSION}`, useUrllib: false };
  }
  log(`creating ${VENV} with openai==${OPENAI_PY_VERSION} (one time, about a minute)`);
  const base = process.env.BENCH_PYTHON ?? "python3";
  try {
    await execa(base, ["-m", "venv", VENV]);
    await execa(
      python,
      ["-m", "pip", "install", "-q", "--disable-pip-version-check", `openai==${OPENAI_PY_VERSION}`],
      {
        timeout: 300_000,
      },
    );
    if ((await check()) === OPENAI_PY_VERSION) {
      return { python, client: `openai-python ${OPENAI_PY_VERSION}`, useUrllib: false };
    }
    throw new Error("openai did not import after install");
  } catch (error) {
    const why = error instanceof Error ? error.message.split("\n")[0] : String(error);
    log(`openai-python unavailable (${why}); the baseline falls back to urllib`);
    const py = existsSync(python) ? python : base;
    return { python: py, client: `urllib (fallback: ${why})`, useUrllib: true };
  }
}

export interface SideBySideRow {
  who: string;
  setup: string;
  pass: 1 | 2;
  pairs: number;
  calls: number;
  bodyBytes: number;
  wallS: number;
  errors: Record<string, number>;
}

async function runReference(
  server: ServerProcess,
  env: BaselineEnv,
  pairs: Array<{ prompt: string; images: string[] }>,
  mode: "per-pair" | "batch",
  dir: string,
): Promise<{ calls: number; wallS: number; errors: Record<string, number>; bodyBytes: number }> {
  const spec = join(dir, `spec-${mode}.json`);
  await writeFile(spec, JSON.stringify({ base_url: server.url, model: "bench", pairs }));
  await server.reset();
  const args = [SCRIPT, spec, "--mode", mode, ...(env.useUrllib ? ["--urllib"] : [])];
  const res = await execa(env.python, args, { timeout: 300_000 });
  const out = JSON.parse(res.stdout.trim().split("\n").pop() as string) as {
    calls: number;
    wall_s: number;
    errors: Record<string, number>;
  };
  const stats = await server.stats();
  return { calls: stats.requests, wallS: out.wall_s, errors: out.errors, bodyBytes: stats.bodyBytes };
}

async function runOurs(
  server: ServerProcess,
  images: readonly string[],
  count: number,
  order: OrderPolicy,
  encoding: Partial<ImageEncoding>,
  cacheDir: string,
): Promise<Array<{ calls: number; wallS: number; bodyBytes: number; failed: number }>> {
  const judge = benchJudge({ url: server.url, concurrency: 32, order, encoding, cacheDir });
  const inputs = pairInputs(images, count, "side");
  const out = [];
  for (let pass = 0; pass < 2; pass++) {
    await server.reset();
    const t0 = performance.now();
    const verdicts = await judge.compareMany(inputs, { concurrency: 32 });
    const wallS = (performance.now() - t0) / 1000;
    const stats = await server.stats();
    out.push({
      calls: stats.requests,
      wallS,
      bodyBytes: stats.bodyBytes,
      failed: verdicts.filter((v) => v.error).length,
    });
  }
  return out;
}

export async function sideBySide(
  server: ServerProcess,
  env: BaselineEnv,
  images: readonly string[],
  count: number,
  latencyMs: number,
): Promise<SideBySideRow[]> {
  await server.setLatency(latencyMs);
  const dir = await mkdtemp(join(tmpdir(), "arr-bench-side-"));
  const rows: SideBySideRow[] = [];
  try {
    // The same pairs (same prompts, same files) for everyone.
    const pairs = pairInputs(images, count, "side").map((p) => ({
      prompt: p.prompt,
      images: p.candidates as string[],
    }));
    for (const mode of ["per-pair", "batch"] as const) {
      for (const pass of [1, 2] as const) {
        const r = await runReference(server, env, pairs, mode, dir);
        rows.push({
          who: "reference-style",
          setup:
            mode === "per-pair"
              ? `${env.client}, asyncio.run per pair (training path)`
              : `${env.client}, one loop, semaphore 50 (batch eval path)`,
          pass,
          pairs: count,
          ...r,
        });
      }
    }
    const ours: Array<[string, OrderPolicy, Partial<ImageEncoding>]> = [
      ["single order, max_side 1024 (default), cache", "single", {}],
      ["single order, max_side 512, cache", "single", { max_side: 512 }],
      ["swap orders (default policy), max_side 512, cache", "swap", { max_side: 512 }],
    ];
    for (const [k, [setup, order, encoding]] of ours.entries()) {
      const cacheDir = join(dir, `cache-${k}`);
      const passes = await runOurs(server, images, count, order, encoding, cacheDir);
      passes.forEach((p, i) => {
        rows.push({
          who: "autorubric",
          setup: `${setup}, concurrency 32`,
          pass: (i + 1) as 1 | 2,
          pairs: count,
          calls: p.calls,
          bodyBytes: p.bodyBytes,
          wallS: p.wallS,
          errors: p.failed ? { failed: p.failed } : {},
        });
      });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}

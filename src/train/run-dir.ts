/**
 * A training run's directory: everything needed to inspect, reproduce or resume the run lives in it.
 *
 * ```
 * <run>/config.resolved.yaml   the fully resolved config, redacted like `arr config show` (keys are
 *                              referenced by env var name; a credential put in a field is not written)
 * <run>/manifest.json          run id, versions, git commit, seeds, host, GPUs, rubric hash
 * <run>/summary.json           every session of the run (new, resumes), whole-run judgement totals
 * <run>/run.json               what the Python workers read (--config)
 * <run>/prompts.jsonl          the normalised training prompts
 * <run>/metrics.jsonl          one line per optimizer update (rank 0, reduced over ranks) plus judge totals
 * <run>/judgements.jsonl       one line per judged pair
 * <run>/evals.jsonl            one line per eval_every: win rate of the current policy over the base
 * <run>/tracking.json          what the tracker process reads (run.trackers); its W&B id survives resumes
 * <run>/tensorboard/, wandb/   the trackers' own files
 * <run>/checkpoints/           written by the workers (checkpoint-<update>/, latest)
 * <run>/samples/, grids/       candidate images being judged, evaluation grids (+ per-prompt tiles)
 * <run>/report.html            the run's report
 * ```
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { execa } from "execa";
import YAML from "yaml";
import { REDACTED, redactSecrets } from "../config/dump.js";
import { isPlain } from "../config/layer.js";
import { moveKeys } from "../config/moved-keys.js";
import { type Config, ConfigSchema } from "../config/schema.js";
import type { PromptRow } from "../data/training-prompts.js";
import { CheckpointError } from "../errors.js";
import { VERSION } from "../version.js";

export interface RunPaths {
  dir: string;
  config: string;
  manifest: string;
  runJson: string;
  prompts: string;
  metrics: string;
  judgements: string;
  evals: string;
  tracking: string;
  tensorboard: string;
  wandb: string;
  checkpoints: string;
  samples: string;
  grids: string;
  report: string;
  summary: string;
}

export function runPaths(dir: string): RunPaths {
  const at = (name: string) => join(dir, name);
  return {
    dir,
    config: at("config.resolved.yaml"),
    manifest: at("manifest.json"),
    runJson: at("run.json"),
    prompts: at("prompts.jsonl"),
    metrics: at("metrics.jsonl"),
    judgements: at("judgements.jsonl"),
    evals: at("evals.jsonl"),
    tracking: at("tracking.json"),
    tensorboard: at("tensorboard"),
    wandb: at("wandb"),
    checkpoints: at("checkpoints"),
    samples: at("samples"),
    grids: at("grids"),
    report: at("report.html"),
    summary: at("summary.json"),
  };
}

/**
 * A fresh run directory: `dir` when given (it must not exist yet, or be empty), else a unique
 * `<run.output_dir>/<run.name>-<time>`.
 */
export async function createRunDir(
  config: Config,
  options: { dir?: string | undefined; now?: Date } = {},
): Promise<RunPaths> {
  let dir: string;
  if (options.dir) {
    dir = resolve(options.dir);
    if (existsSync(dir) && (await readdir(dir)).length > 0) {
      throw new CheckpointError(`${dir} already exists and is not empty`, {
        hint: "pick a new directory, or continue that run with `arr train --resume DIR`",
      });
    }
  } else {
    const stamp = runStamp(options.now ?? new Date());
    const base = resolve(config.run.output_dir, `${config.run.name}-${stamp}`);
    dir = base;
    for (let i = 1; existsSync(dir); i++) dir = `${base}-${i}`;
  }
  const paths = runPaths(dir);
  await mkdir(paths.checkpoints, { recursive: true });
  await mkdir(paths.samples, { recursive: true });
  await mkdir(paths.grids, { recursive: true });
  await writeRunConfig(paths, config);
  return paths;
}

/**
 * The run's config.yaml: what a resume reads back, so it always says what ran last. Redacted: a
 * resume asks for redacted values again (see {@link openRunDir}).
 */
export async function writeRunConfig(paths: RunPaths, config: Config): Promise<void> {
  await writeFile(paths.config, YAML.stringify(redactSecrets(config)));
}

/** Dotted paths of the values `writeRunConfig` redacted (a resume must supply them again). */
export function redactedPaths(value: unknown, prefix = ""): string[] {
  if (value === REDACTED) return [prefix];
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([k, v]) => redactedPaths(v, prefix ? `${prefix}.${k}` : k));
}

/** Reopens a run directory for `--resume`; its stored config is the one that continues. */
export async function openRunDir(dir: string): Promise<{ paths: RunPaths; config: Config }> {
  const paths = runPaths(resolve(dir));
  if (!existsSync(paths.config)) {
    throw new CheckpointError(`${dir} is not a run directory (no config.resolved.yaml)`, {
      hint: "pass the directory `arr train` created, e.g. runs/arr-run-20261129T120000",
    });
  }
  const stored = YAML.parse(await readFile(paths.config, "utf8"));
  if (isPlain(stored)) moveKeys(stored);
  const parsed = ConfigSchema.safeParse(stored);
  if (!parsed.success) {
    throw new CheckpointError(`${paths.config} no longer validates: ${parsed.error.issues[0]?.message}`, {
      hint: "the run was made by another autorubric version; start a new run",
    });
  }
  return { paths, config: parsed.data };
}

/** `20261129T111243`: the UTC time stamp run directories are named with. */
export function runStamp(now: Date): string {
  return now.toISOString().replace(/[-:]/g, "").replace(/\..*$/, "");
}

export async function writePrompts(paths: RunPaths, rows: PromptRow[]): Promise<void> {
  const lines = rows.map((row) => JSON.stringify({ prompt: row.prompt, source_image: row.sourceImage }));
  await writeFile(paths.prompts, `${lines.join("\n")}\n`);
}

export interface ManifestInputs {
  config: Config;
  python: { path: string; versions: unknown };
  rubricHash: string | null;
  resumedAt?: string[];
}

/** Writes manifest.json and returns the run's id (made once, kept across resumes: torchrun's rdzv id). */
export async function writeManifest(paths: RunPaths, inputs: ManifestInputs): Promise<string> {
  const previous = existsSync(paths.manifest)
    ? (JSON.parse(await readFile(paths.manifest, "utf8")) as Record<string, unknown>)
    : null;
  const runId =
    typeof previous?.run_id === "string" ? previous.run_id : `arr-${randomBytes(8).toString("hex")}`;
  const manifest = {
    run_id: runId,
    autorubric: VERSION,
    created: previous?.created ?? new Date().toISOString(),
    resumed: [
      ...((previous?.resumed as string[] | undefined) ?? []),
      ...(previous ? [new Date().toISOString()] : []),
    ],
    node: process.version,
    python: inputs.python,
    git: gitCommit(),
    host: hostname(),
    seeds: {
      run: inputs.config.run.seed,
      train: inputs.config.train?.seed ?? null,
      sampler: inputs.config.train?.sampler.seed ?? null,
      judge: inputs.config.judge.seed,
    },
    rubric_hash: inputs.rubricHash,
    vlm: inputs.config.vlm ? { provider: inputs.config.vlm.provider, model: inputs.config.vlm.model } : null,
  };
  await writeFile(paths.manifest, `${JSON.stringify(redactSecrets(manifest), null, 2)}\n`);
  return runId;
}

function gitCommit(): { commit: string | null; dirty: boolean | null } {
  try {
    const commit = execFileSync("git", ["rev-parse", "HEAD"], { stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
    const dirty =
      execFileSync("git", ["status", "--porcelain"], { stdio: ["ignore", "pipe", "ignore"] })
        .toString()
        .trim() !== "";
    return { commit, dirty };
  } catch {
    return { commit: null, dirty: null };
  }
}

/** Versions of the runtime's packages and the GPUs, as the manifest records them. */
export interface RuntimeVersions {
  python: string | null;
  packages: Record<string, string | null>;
  /** `nvidia-smi` names and memory; empty without NVIDIA GPUs (or without the tool). */
  gpus: string[];
  error?: string;
}

// Package metadata only: importing torch and diffusers to ask their versions costs ~15 s on 2 CPU
// cores, before any worker has started.
const VERSIONS_PROBE = `
import json, platform, importlib.metadata as m
out = {}
for name in ("torch", "diffusers", "transformers", "peft", "safetensors", "accelerate", "numpy"):
    try:
        out[name] = m.version(name)
    except m.PackageNotFoundError:
        out[name] = None
print(json.dumps({"python": platform.python_version(), "packages": out}))
`;

/**
 * Python and package versions (from package metadata, without importing them) and the GPUs. Never
 * throws: a manifest with an error note is better than no run.
 */
export async function probeRuntimeVersions(python: string, env: NodeJS.ProcessEnv): Promise<RuntimeVersions> {
  const [py, smi] = await Promise.all([
    execa(python, ["-c", VERSIONS_PROBE], { env, extendEnv: false, reject: false, timeout: 30_000 }),
    execa("nvidia-smi", ["--query-gpu=name,memory.total", "--format=csv,noheader"], {
      reject: false,
      timeout: 10_000,
    }),
  ]);
  const gpus =
    smi.exitCode === 0
      ? String(smi.stdout)
          .split("\n")
          .map((l) => l.trim())
          .filter(Boolean)
      : [];
  try {
    const parsed = JSON.parse(String(py.stdout)) as Pick<RuntimeVersions, "python" | "packages">;
    return { ...parsed, gpus };
  } catch {
    const tail = String(py.stderr ?? "")
      .trim()
      .split("\n")
      .slice(-2)
      .join(" | ");
    return { python: null, packages: {}, gpus, error: `version probe failed (exit ${py.exitCode}): ${tail}` };
  }
}

/** Reads metrics.jsonl back (for reports and tests). */
export async function readMetrics(paths: RunPaths): Promise<Array<Record<string, unknown>>> {
  return readJsonl(paths.metrics);
}

/** The rows of one of the run's JSONL files (none when it does not exist yet). */
export async function readJsonl(file: string): Promise<Array<Record<string, unknown>>> {
  if (!existsSync(file)) return [];
  return (await readFile(file, "utf8"))
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The LoRA directory of the latest checkpoint under `checkpoints/`, or null when there is none yet. */
export function latestLora(checkpoints: string): string | null {
  const pointer = join(checkpoints, "latest");
  if (!existsSync(pointer)) return null;
  const lora = join(checkpoints, readFileSync(pointer, "utf8").trim(), "lora");
  return existsSync(lora) ? lora : null;
}

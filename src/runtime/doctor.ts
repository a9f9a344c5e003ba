/**
 * `arr doctor`: what this machine has and what is missing, each missing piece with the command that
 * fixes it. Python is probed in a subprocess (not through the bridge): a broken interpreter or a torch
 * that crashes on import must become a line in the report, never a crash of the report itself.
 */
import { dirname, join } from "node:path";
import { execa } from "execa";
import type { Config, DistributedConfig, VlmConfig } from "../config/schema.js";
import { ArrError } from "../errors.js";
import { lockFile, pyRuntimeDir, pythonEnv, resolvePython, setupCommand } from "./python.js";

/** What the Python probe reports (the facade's `versions()`); package versions are null when missing. */
export interface PythonVersions {
  python: string;
  executable: string;
  platform: string;
  torch: string | null;
  diffusers: string | null;
  transformers: string | null;
  peft: string | null;
  accelerate: string | null;
  safetensors: string | null;
  numpy: string | null;
  /** Why `import torch` failed, if it did. */
  torch_error: string | null;
  cuda_available: boolean;
  /** CUDA version torch was built with (null for a CPU build). */
  cuda_version: string | null;
  gpus: { index: number; name: string; memory_bytes: number }[];
  /** Whether `import autorubric_runtime` works. */
  runtime_imports: boolean;
  runtime_error: string | null;
}

// Loads facade.py by path (skipping the package __init__) and writes the versions to a copy of the
// real stdout, because the facade points fd 1 at stderr as soon as it is imported.
const PROBE = `
import importlib.util, json, os, sys
out = os.dup(1)
spec = importlib.util.spec_from_file_location("arr_facade_probe", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
os.write(out, json.dumps(mod.json_safe(mod.versions())).encode())
`;

/**
 * Runs the interpreter once and returns what it has. Throws `ArrError` when the interpreter itself
 * cannot run the probe (its stderr tail is in the message).
 */
export async function probePythonVersions(
  pythonPath: string,
  env: Record<string, string> = pythonEnv(),
  options: { timeoutMs?: number } = {},
): Promise<PythonVersions> {
  const facade = join(pyRuntimeDir(), "autorubric_runtime", "facade.py");
  const result = await execa(pythonPath, ["-c", PROBE, facade], {
    env,
    extendEnv: false,
    reject: false,
    timeout: options.timeoutMs ?? 120_000,
    cwd: pyRuntimeDir(),
  });
  if (result.exitCode !== 0 || result.timedOut) {
    const tail = `${result.stderr ?? ""}`.trim().split("\n").slice(-3).join(" | ");
    throw new ArrError(
      `${pythonPath} could not run the version probe (${result.timedOut ? "timed out" : `exit ${result.exitCode}`}): ${tail}`,
      { hint: `run \`${setupCommand()}\`, or point ARR_PYTHON at a working Python >= 3.10` },
    );
  }
  try {
    return JSON.parse(result.stdout) as PythonVersions;
  } catch (error) {
    throw new ArrError(`${pythonPath}: the version probe printed something that is not JSON`, {
      cause: error,
    });
  }
}

/** One line of the report. */
export interface DoctorCheck {
  /** Short name, e.g. `torch`. */
  name: string;
  ok: boolean;
  /** A failed required check makes `arr doctor` exit non-zero; optional ones only warn. */
  required: boolean;
  /** What was found (a version, a path, a GPU list). */
  value: string | null;
  /** Why it failed, when it did. */
  problem?: string;
  /** The command or setting that fixes it. */
  fix?: string;
}

export interface DoctorReport {
  /** True when every required check passed. */
  ok: boolean;
  checks: DoctorCheck[];
  node: { version: string; platform: string };
  python: { path: string | null; source: string | null; versions: PythonVersions | null };
  /** The configured VLM endpoints and whether they answered; null when no config was given. */
  vlm: {
    provider: string;
    model: string;
    endpoints: { url: string; ok: boolean; status: number | null }[];
  } | null;
}

export interface DoctorOptions {
  /** A resolved config; its VLM endpoint is checked (required when the config names one). */
  config?: Config | null;
  env?: NodeJS.ProcessEnv;
  /** Timeout for each endpoint check (default 5 s). */
  endpointTimeoutMs?: number;
  /** HTTP transport (tests). */
  fetch?: typeof fetch;
}

function atLeast(version: string, min: [number, number, number]): boolean {
  const parts = version
    .replace(/^v/, "")
    .split(".")
    .map((p) => Number.parseInt(p, 10) || 0);
  for (let i = 0; i < 3; i++) {
    const a = parts[i] ?? 0;
    const b = min[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

/**
 * A warning when a config starts more workers per node than there are GPUs. CPU-only machines run
 * their workers on the CPU (gloo), so there it only warns when the config asks for nccl.
 */
export function workersCheck(distributed: DistributedConfig, gpus: number): DoctorCheck | null {
  const wanted = distributed.nproc_per_node;
  if (gpus === 0 && distributed.backend !== "nccl") return null;
  const ok = wanted <= gpus;
  return {
    name: "train.distributed.nproc_per_node",
    ok,
    required: false,
    value: `${wanted} worker${wanted === 1 ? "" : "s"} per node, ${gpus} GPU${gpus === 1 ? "" : "s"} visible`,
    ...(ok
      ? {}
      : {
          problem: `${wanted} workers but only ${gpus} GPU${gpus === 1 ? "" : "s"}: two workers would share a device (or fail to find one)`,
          fix: `--set train.distributed.nproc_per_node=${Math.max(1, gpus)}`,
        }),
  };
}

/** The install command for the interpreter in use: `arr setup`, or pip into ARR_PYTHON's. */
function setupFix(source: string | null, python: string | null): string {
  return source === "ARR_PYTHON"
    ? `${python ?? "$ARR_PYTHON"} -m pip install -r ${lockFile()} (or unset ARR_PYTHON and run ${setupCommand()})`
    : setupCommand();
}

async function checkEndpoint(
  url: string,
  key: string | undefined,
  timeoutMs: number,
  doFetch: typeof fetch,
): Promise<{ ok: boolean; status: number | null; problem?: string }> {
  try {
    const res = await doFetch(`${url.replace(/\/+$/, "")}/models`, {
      headers: key ? { authorization: `Bearer ${key}` } : {},
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.arrayBuffer().catch(() => undefined);
    if (res.ok) return { ok: true, status: res.status };
    return { ok: false, status: res.status, problem: `GET /models answered HTTP ${res.status}` };
  } catch (error) {
    const why =
      error instanceof Error
        ? error.cause instanceof Error
          ? error.cause.message
          : error.message
        : String(error);
    return { ok: false, status: null, problem: `no answer (${why})` };
  }
}

async function vlmChecks(
  vlm: VlmConfig,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  doFetch: typeof fetch,
): Promise<{ checks: DoctorCheck[]; report: NonNullable<DoctorReport["vlm"]> }> {
  const checks: DoctorCheck[] = [];
  const report: NonNullable<DoctorReport["vlm"]> = {
    provider: vlm.provider,
    model: vlm.model,
    endpoints: [],
  };
  let urls = vlm.base_url === null ? [] : Array.isArray(vlm.base_url) ? vlm.base_url : [vlm.base_url];
  let key: string | undefined;
  let stop: (() => Promise<void>) | null = null;
  if (vlm.provider === "referee") {
    // The offline referee is started on demand by the commands that judge; start it here to prove it works.
    const { startReferee } = await import("../referee/index.js");
    const referee = await startReferee();
    urls = [referee.baseUrl];
    stop = referee.close;
  } else if (vlm.api_key_env) {
    key = env[vlm.api_key_env];
    checks.push({
      name: `VLM key (${vlm.api_key_env})`,
      ok: key !== undefined && key !== "",
      required: true,
      value: key ? "set" : null,
      ...(key
        ? {}
        : { problem: `${vlm.api_key_env} is not set`, fix: `export ${vlm.api_key_env}=<your key>` }),
    });
  }
  try {
    for (const url of urls) {
      const r = await checkEndpoint(url, key, timeoutMs, doFetch);
      report.endpoints.push({ url, ok: r.ok, status: r.status });
      checks.push({
        name: vlm.provider === "referee" ? "VLM (offline referee)" : `VLM endpoint ${url}`,
        ok: r.ok,
        required: true,
        value: r.ok ? `${vlm.model} answers` : null,
        ...(r.ok
          ? {}
          : {
              problem: r.problem ?? "no answer",
              fix:
                r.status === 401 || r.status === 403
                  ? `check the key in ${vlm.api_key_env ?? "vlm.api_key_env"}`
                  : `start the server (e.g. \`vllm serve ${vlm.model} --port 8000\`) or fix vlm.base_url`,
            }),
      });
    }
    if (urls.length === 0) {
      checks.push({
        name: "VLM endpoint",
        ok: false,
        required: true,
        value: null,
        problem: "vlm.base_url is not set",
        fix: 'set vlm.base_url (e.g. "http://localhost:8000/v1") or use provider: referee',
      });
    }
  } finally {
    await stop?.();
  }
  return { checks, report };
}

/** Builds the environment report. Never throws for a missing piece: that becomes a failed check. */
export async function runDoctor(options: DoctorOptions = {}): Promise<DoctorReport> {
  const env = options.env ?? process.env;
  const checks: DoctorCheck[] = [];
  const nodeOk = atLeast(process.versions.node, [20, 9, 0]);
  checks.push({
    name: "Node.js",
    ok: nodeOk,
    required: true,
    value: process.versions.node,
    ...(nodeOk ? {} : { problem: "Node.js >= 20.9 is required", fix: "install Node.js 20 LTS or newer" }),
  });

  const report: DoctorReport = {
    ok: false,
    checks,
    node: { version: process.versions.node, platform: `${process.platform}-${process.arch}` },
    python: { path: null, source: null, versions: null },
    vlm: null,
  };

  let versions: PythonVersions | null = null;
  let setup = setupCommand();
  try {
    const selected = resolvePython(env);
    report.python.path = selected.path;
    report.python.source = selected.source;
    setup = setupFix(selected.source, selected.path);
    try {
      versions = await probePythonVersions(selected.path, pythonEnv(env));
      report.python.versions = versions;
      const pyOk = atLeast(versions.python, [3, 10, 0]);
      checks.push({
        name: "Python",
        ok: pyOk,
        required: true,
        value: `${versions.python} (${selected.path}, from ${selected.source})`,
        ...(pyOk
          ? {}
          : {
              problem: "Python >= 3.10 is required",
              fix:
                selected.source === "ARR_PYTHON"
                  ? "point ARR_PYTHON at a Python >= 3.10"
                  : `remove ${dirname(dirname(selected.path))} and run ${setupCommand("--python python3.11")} (any Python >= 3.10)`,
            }),
      });
    } catch (error) {
      checks.push({
        name: "Python",
        ok: false,
        required: true,
        value: selected.path,
        problem: error instanceof Error ? error.message : String(error),
        fix: setup,
      });
    }
  } catch (error) {
    checks.push({
      name: "Python",
      ok: false,
      required: true,
      value: null,
      problem: error instanceof Error ? error.message : String(error),
      fix: error instanceof ArrError && error.hint ? error.hint : setup,
    });
  }

  if (versions) {
    const torchOk = versions.torch !== null && versions.torch_error === null;
    checks.push({
      name: "torch",
      ok: torchOk,
      required: true,
      value: versions.torch,
      ...(torchOk ? {} : { problem: versions.torch_error ?? "torch is not installed", fix: setup }),
    });
    // Without torch there is nothing to say about CUDA or GPUs beyond the torch failure above.
    if (torchOk) {
      checks.push({
        name: "CUDA",
        ok: versions.cuda_available,
        required: false,
        value: versions.cuda_available ? `CUDA ${versions.cuda_version ?? "?"}` : "not available (CPU only)",
        ...(versions.cuda_available
          ? {}
          : {
              problem: versions.cuda_version ? "torch has CUDA but sees no GPU" : "this torch is a CPU build",
              fix: `for GPU training on a machine with an NVIDIA driver: ${setupCommand("--torch cuda")}`,
            }),
      });
      checks.push({
        name: "GPUs",
        ok: versions.gpus.length > 0,
        required: false,
        value:
          versions.gpus.length > 0
            ? `${versions.gpus.length}: ${versions.gpus.map((g) => `${g.name} (${gib(g.memory_bytes)})`).join(", ")}`
            : "0",
      });
      const processes = options.config?.train
        ? workersCheck(options.config.train.distributed, versions.gpus.length)
        : null;
      if (processes) checks.push(processes);
    }
    for (const name of ["diffusers", "transformers", "peft"] as const) {
      const v = versions[name];
      checks.push({
        name,
        ok: v !== null,
        required: true,
        value: v,
        ...(v === null ? { problem: `${name} is not installed`, fix: setup } : {}),
      });
    }
    checks.push({
      name: "autorubric_runtime",
      ok: versions.runtime_imports,
      required: true,
      value: versions.runtime_imports ? "imports" : null,
      ...(versions.runtime_imports
        ? {}
        : {
            problem: versions.runtime_error ?? "does not import",
            fix: `check ${pyRuntimeDir()} is intact; then ${setup}`,
          }),
    });
  }

  const vlm = options.config?.vlm;
  if (vlm) {
    const r = await vlmChecks(vlm, env, options.endpointTimeoutMs ?? 5000, options.fetch ?? fetch);
    checks.push(...r.checks);
    report.vlm = r.report;
  }
  report.ok = checks.every((c) => c.ok || !c.required);
  return report;
}

/** The human-readable report (one line per check, fixes indented under failures). */
export function formatDoctorReport(report: DoctorReport): string {
  const width = Math.max(...report.checks.map((c) => c.name.length));
  const lines = report.checks.map((c) => {
    const mark = c.ok ? "ok  " : c.required ? "FAIL" : "warn";
    const head = `${mark}  ${c.name.padEnd(width)}  ${c.value ?? ""}`.trimEnd();
    const extra: string[] = [];
    if (!c.ok && c.problem) extra.push(`        ${c.problem}`);
    if (!c.ok && c.fix) extra.push(`        fix: ${c.fix}`);
    return [head, ...extra].join("\n");
  });
  lines.push(
    report.ok ? "\nEverything required is in place." : "\nSomething required is missing (see FAIL above).",
  );
  return lines.join("\n");
}

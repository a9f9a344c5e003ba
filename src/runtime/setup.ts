/**
 * `setupRuntime()` (`arr setup`): installs the Python runtime with the exact pins of
 * py-runtime/requirements.lock into a venv: the per-user runtime by default (shared by every project
 * that uses this autorubric version, outside node_modules so `npm ci` does not delete it), or a
 * given directory (a development checkout's py-runtime/.venv).
 *
 * torch is the one pin that needs care: the same version exists as a CPU build and as several CUDA
 * builds, told apart only by the local version label (`2.13.0+cpu`, `2.13.0+cu130`), and a bare
 * `torch==2.13.0` from PyPI is a CUDA build with gigabytes of NVIDIA libraries. So torch is installed
 * first, pinned with its label, and the rest of the lock after it (the lock's `torch==2.13.0` then
 * matches what is installed). Idempotent: a stamp in the venv records the lock's hash and the torch
 * build, and a second run with nothing to change does nothing.
 */
import { existsSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { SetupError } from "../errors.js";
import { lockFile, lockHash, packageRoot, userRuntimeDir } from "./python.js";

/** PyTorch's wheel index; `<index>/<variant>` serves one build (`cpu`, `cu130`, ...). */
export const PYTORCH_INDEX = "https://download.pytorch.org/whl";
/** CUDA builds of torch 2.13 on PyTorch's index, oldest first (update with the torch pin). */
export const CUDA_VARIANTS = ["cu126", "cu129", "cu130", "cu132"] as const;
export type CudaVariant = (typeof CUDA_VARIANTS)[number];
export type TorchVariant = "cpu" | CudaVariant;
/** `auto`: the venv's current build, else CUDA when an NVIDIA driver is found; `cuda`: the driver's. */
export type TorchChoice = "auto" | "cuda" | TorchVariant;
export const TORCH_CHOICES: readonly TorchChoice[] = ["auto", "cpu", "cuda", ...CUDA_VARIANTS];

/** Written into the venv after a successful install. */
export const STAMP_FILE = ".arr-setup.json";
interface Stamp {
  lock_sha256: string;
  torch: TorchVariant;
}

/** The torch version pinned in the lock file. */
export function lockedTorchVersion(lockText: string, file = "requirements.lock"): string {
  const match = /^torch==([^\s;#]+)\s*$/m.exec(lockText);
  if (!match?.[1]) {
    throw new SetupError(`${file}: no exact torch pin (a line \`torch==X.Y.Z\`)`, {
      hint: "reinstall autorubric: its py-runtime/requirements.lock is damaged",
    });
  }
  return match[1];
}

/** The newest CUDA version the NVIDIA driver supports, from `nvidia-smi`'s banner. */
export function driverCudaVersion(nvidiaSmiOutput: string): [number, number] | null {
  const match = /CUDA Version:\s*(\d+)\.(\d+)/.exec(nvidiaSmiOutput);
  return match ? [Number(match[1]), Number(match[2])] : null;
}

/**
 * The newest torch CUDA build a driver can run (a build needs a driver at least as new as its CUDA
 * version), or null when the driver is older than every build.
 */
export function cudaVariantFor(driver: readonly [number, number]): CudaVariant | null {
  let best: CudaVariant | null = null;
  for (const v of CUDA_VARIANTS) {
    const major = Number(v.slice(2, -1));
    const minor = Number(v.slice(-1));
    if (major < driver[0] || (major === driver[0] && minor <= driver[1])) best = v;
  }
  return best;
}

/**
 * The exact torch requirement for a build. macOS wheels on PyPI are the CPU build and carry no
 * label; everywhere else the label is part of the pin.
 */
export function torchRequirement(
  version: string,
  variant: TorchVariant,
  platform = process.platform,
): string {
  return variant === "cpu" && platform === "darwin" ? `torch==${version}` : `torch==${version}+${variant}`;
}

/** One command of the install, with what it is for. */
export interface SetupCommand {
  why: string;
  argv: string[];
  /** Tried when `argv` fails: the same install from PyTorch's own index. */
  fallback?: string[];
}

const PIP = ["-m", "pip", "install", "--disable-pip-version-check", "--no-input"];
const IMPORT_CHECK = "import torch, diffusers, transformers, peft, safetensors; print(torch.__version__)";

/**
 * The install as commands (pure). torch first: from the configured package sources (a mirror or a
 * local wheelhouse may have the build), else from PyTorch's index for that build, as PyTorch
 * documents (`--index-url https://download.pytorch.org/whl/<variant>`).
 */
export function installCommands(o: {
  python: string;
  lockFile: string;
  torchVersion: string;
  variant: TorchVariant;
  platform?: NodeJS.Platform;
}): SetupCommand[] {
  const torch = torchRequirement(o.torchVersion, o.variant, o.platform);
  const torchCommand: SetupCommand = { why: `install ${torch}`, argv: [o.python, ...PIP, torch] };
  if (torch.includes("+")) {
    torchCommand.fallback = [o.python, ...PIP, "--index-url", `${PYTORCH_INDEX}/${o.variant}`, torch];
  }
  return [
    torchCommand,
    { why: "install the locked runtime packages", argv: [o.python, ...PIP, "-r", o.lockFile] },
    { why: "check that the runtime imports", argv: [o.python, "-c", IMPORT_CHECK] },
  ];
}

export interface SetupOptions {
  /** Which torch build (default `auto`). */
  torch?: TorchChoice;
  /** The venv to create or update (default: the per-user runtime, see `userRuntimeDir`). */
  venv?: string;
  /** Interpreter that creates the venv (default `ARR_BASE_PYTHON`, else `python3`). */
  basePython?: string;
  /** Reinstall even when the stamp says the venv is up to date. */
  force?: boolean;
  /** Only work out what would run. */
  dryRun?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Finds the NVIDIA driver's CUDA version (default: `nvidia-smi`); tests inject one. */
  detectDriver?: () => Promise<[number, number] | null>;
  /** Progress and pip's output, line by line. */
  onLog?: (line: string) => void;
  /** The package root (tests). */
  root?: string;
}

export interface SetupResult {
  /** `ready`: already set up; `installed`: set up now; `planned`: dry run; `skipped`: ARR_PYTHON is set. */
  action: "ready" | "installed" | "planned" | "skipped";
  /** The interpreter autorubric will use. */
  python: string | null;
  venv: string | null;
  torch: TorchVariant | null;
  /** The install's commands (for `installed` and `planned`); empty when nothing needed doing. */
  commands: SetupCommand[];
  /** For `skipped`: how to install the runtime into ARR_PYTHON's interpreter. */
  note?: string;
}

async function nvidiaSmi(): Promise<[number, number] | null> {
  const r = await execa("nvidia-smi", [], { reject: false, stdin: "ignore" });
  return r.exitCode === 0 ? driverCudaVersion(String(r.stdout)) : null;
}

function readStamp(venv: string): Stamp | null {
  try {
    return JSON.parse(readFileSync(join(venv, STAMP_FILE), "utf8")) as Stamp;
  } catch {
    return null;
  }
}

/** The build label of the torch installed in a venv (`cpu`, `cu130`), or null. */
async function installedTorch(python: string, env: NodeJS.ProcessEnv): Promise<TorchVariant | null> {
  const r = await execa(python, ["-c", "import importlib.metadata as m; print(m.version('torch'))"], {
    env,
    reject: false,
    stdin: "ignore",
  });
  const label = String(r.stdout ?? "")
    .trim()
    .split("+")[1];
  return r.exitCode === 0 && (label === "cpu" || CUDA_VARIANTS.includes(label as CudaVariant))
    ? (label as TorchVariant)
    : null;
}

/**
 * `auto` keeps what the venv has (its stamp, else its torch's label), so a rerun never swaps a working
 * build, e.g. on a node whose driver is not visible; a new venv gets CUDA when a driver is found.
 */
async function chooseVariant(
  choice: TorchChoice,
  venv: { stamp: Stamp | null; python: string | null },
  env: NodeJS.ProcessEnv,
  detect: () => Promise<[number, number] | null>,
): Promise<TorchVariant> {
  if (choice !== "auto" && choice !== "cuda") return choice;
  if (choice === "auto") {
    const current = venv.stamp?.torch ?? (venv.python ? await installedTorch(venv.python, env) : null);
    if (current) return current;
  }
  const driver = await detect();
  const variant = driver ? cudaVariantFor(driver) : null;
  if (variant) return variant;
  if (choice === "auto") return "cpu";
  throw new SetupError(
    driver
      ? `the NVIDIA driver supports CUDA ${driver.join(".")}, older than every torch CUDA build (${CUDA_VARIANTS.join(", ")})`
      : "--torch cuda: no NVIDIA driver found (nvidia-smi did not answer)",
    { hint: `update the driver, or name the build: --torch ${CUDA_VARIANTS.join("|")} (or --torch cpu)` },
  );
}

/** Runs one command, passing its output lines on; returns the exit code and the lines. */
async function run(
  argv: string[],
  env: NodeJS.ProcessEnv,
  onLine: (line: string) => void,
): Promise<{ exitCode: number; lines: string[] }> {
  const [file, ...args] = argv as [string, ...string[]];
  const child = execa(file, args, { env, all: true, reject: false, stdin: "ignore" });
  const lines: string[] = [];
  for await (const line of child.iterable({ from: "all" })) {
    lines.push(line);
    onLine(line);
  }
  const result = await child;
  return { exitCode: result.exitCode ?? 1, lines };
}

function failure(command: SetupCommand, lines: string[]): SetupError {
  const tail = lines.slice(-5).join("\n  ");
  return new SetupError(
    `arr setup: could not ${command.why} (${command.argv.join(" ")})${tail ? `:\n  ${tail}` : ""}`,
    {
      hint: "check the network or your pip configuration; rerun `arr setup` to continue (finished steps are kept)",
    },
  );
}

export async function setupRuntime(options: SetupOptions = {}): Promise<SetupResult> {
  const env = options.env ?? process.env;
  const log = options.onLog ?? (() => {});
  const root = options.root ?? packageRoot();
  const lock = lockFile(root);
  if (env.ARR_PYTHON) {
    return {
      action: "skipped",
      python: env.ARR_PYTHON,
      venv: null,
      torch: null,
      commands: [],
      note: `ARR_PYTHON is set: autorubric uses that interpreter and leaves it to you. Install the runtime there with \`${env.ARR_PYTHON} -m pip install -r ${lock}\` (drop the torch line to keep your own torch build).`,
    };
  }
  const venv = options.venv ?? userRuntimeDir(env, root);
  const python = join(venv, "bin", "python");
  const hash = lockHash(root);
  const exists = existsSync(python);
  const stamp = exists ? readStamp(venv) : null;
  const variant = await chooseVariant(
    options.torch ?? "auto",
    { stamp, python: exists ? python : null },
    env,
    options.detectDriver ?? nvidiaSmi,
  );
  const result = { python, venv, torch: variant };
  if (!options.force && stamp?.lock_sha256 === hash && stamp.torch === variant) {
    return { action: "ready", ...result, commands: [] };
  }

  const basePython = options.basePython ?? env.ARR_BASE_PYTHON ?? "python3";
  const steps: SetupCommand[] = exists
    ? []
    : [{ why: `create the venv ${venv}`, argv: [basePython, "-m", "venv", venv] }];
  const torchVersion = lockedTorchVersion(readFileSync(lock, "utf8"), lock);
  steps.push(...installCommands({ python, lockFile: lock, torchVersion, variant }));
  if (options.dryRun) return { action: "planned", ...result, commands: steps };

  if (!exists) await checkBasePython(basePython, env);
  let output: string[] = [];
  for (const step of steps) {
    log(`arr setup: ${step.why}`);
    // The first torch attempt may fail by design (the build is not in the configured sources):
    // hold its output back unless the fallback fails too.
    const held: string[] = [];
    let r = await run(step.argv, env, step.fallback ? (l) => held.push(l) : log);
    if (r.exitCode !== 0 && step.fallback) {
      log(
        `arr setup: not in the configured package sources; trying PyTorch's index (${step.fallback.join(" ")})`,
      );
      r = await run(step.fallback, env, log);
      if (r.exitCode !== 0) throw failure(step, [...held, ...r.lines]);
    } else if (r.exitCode !== 0) {
      throw failure(step, r.lines);
    } else {
      for (const line of held) log(line);
    }
    output = r.lines;
  }
  // The last command printed torch.__version__ (after any warnings the imports wrote).
  const expected = torchRequirement(torchVersion, variant).slice("torch==".length);
  if (!output.some((line) => line.trim() === expected)) {
    const found = output.at(-1)?.trim() || "unknown";
    throw new SetupError(`arr setup: the venv's torch is ${found}, expected ${expected}`, {
      hint: "rerun with --force; if pip keeps choosing another build, check your pip configuration (pip config list)",
    });
  }
  await writeFile(
    join(venv, STAMP_FILE),
    `${JSON.stringify({ lock_sha256: hash, torch: variant } satisfies Stamp)}\n`,
  );
  return { action: "installed", ...result, commands: steps };
}

async function checkBasePython(basePython: string, env: NodeJS.ProcessEnv): Promise<void> {
  const r = await execa(basePython, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], {
    env,
    reject: false,
    stdin: "ignore",
  });
  const [major, minor] = String(r.stdout ?? "")
    .trim()
    .split(".")
    .map(Number);
  if (r.exitCode !== 0 || major === undefined || minor === undefined) {
    throw new SetupError(`arr setup: ${basePython} does not run`, {
      hint: "install Python >= 3.10, or name one with --python (or ARR_BASE_PYTHON)",
    });
  }
  if (major < 3 || (major === 3 && minor < 10)) {
    throw new SetupError(`arr setup: ${basePython} is Python ${major}.${minor}; the runtime needs >= 3.10`, {
      hint: "name a newer interpreter with --python python3.11 (or ARR_BASE_PYTHON)",
    });
  }
}

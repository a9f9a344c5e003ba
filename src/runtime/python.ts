/**
 * Which Python interpreter autorubric runs, and the environment it runs with.
 *
 * `ARR_PYTHON` wins when set (a user-managed interpreter, e.g. one with a CUDA torch); otherwise the
 * project's own `py-runtime/.venv`. The environment puts `py-runtime/` on `PYTHONPATH`, makes Python
 * unbuffered (so logs arrive as they happen) and sets `HF_HUB_OFFLINE=1`: nothing autorubric starts
 * may ever download weights.
 */
import { accessSync, constants, existsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BridgeError } from "../errors.js";

/**
 * The package root (the directory holding package.json and py-runtime/). This file lives in
 * src/runtime/ when run through tsx and in dist/src/runtime/ or dist/runtime/ after tsc, so walk up
 * until py-runtime/ appears instead of counting levels.
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "py-runtime"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new BridgeError(`cannot find the autorubric package root above ${fileURLToPath(import.meta.url)}`, {
    pythonType: "SetupError",
    hint: "reinstall autorubric: its py-runtime/ directory is missing",
  });
}

/** Where the Python half of autorubric lives (added to PYTHONPATH). */
export function pyRuntimeDir(): string {
  return join(packageRoot(), "py-runtime");
}

export interface PythonSelection {
  /** Absolute path of the interpreter. */
  path: string;
  /** Where it came from: the `ARR_PYTHON` variable or the project's venv. */
  source: "ARR_PYTHON" | "venv";
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Chooses the interpreter. Checked up front because pythonia (and spawn in general) reports a bad
 * path as an unhandled `error` event that takes Node down.
 */
export function resolvePython(env: NodeJS.ProcessEnv = process.env): PythonSelection {
  const configured = env.ARR_PYTHON;
  if (configured !== undefined && configured !== "") {
    const path = resolve(configured);
    if (!isExecutableFile(path)) {
      throw new BridgeError(`ARR_PYTHON=${configured} is not an executable file`, {
        pythonType: "SetupError",
        hint: "point ARR_PYTHON at a Python >= 3.10 interpreter (not a directory), or unset it to use py-runtime/.venv",
      });
    }
    return { path, source: "ARR_PYTHON" };
  }
  const path = join(pyRuntimeDir(), ".venv", "bin", "python");
  if (!isExecutableFile(path)) {
    throw new BridgeError(`the Python runtime is not installed (${path} is missing)`, {
      pythonType: "SetupError",
      hint: "run `npm run setup:python` (or set ARR_PYTHON to an interpreter that has py-runtime/requirements.lock installed)",
    });
  }
  return { path, source: "venv" };
}

/**
 * The environment a Python child gets: the parent's, plus py-runtime/ first on PYTHONPATH,
 * unbuffered output and offline Hugging Face hubs. `extra` is applied last.
 */
export function pythonEnv(
  base: NodeJS.ProcessEnv = process.env,
  extra: Record<string, string> = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
  const runtime = pyRuntimeDir();
  const existing = env.PYTHONPATH;
  env.PYTHONPATH = existing ? `${runtime}:${existing}` : runtime;
  env.PYTHONUNBUFFERED = "1";
  // Never download: weights, tokenizers and configs come from local paths or the user's cache.
  env.HF_HUB_OFFLINE = "1";
  env.TRANSFORMERS_OFFLINE = "1";
  return { ...env, ...extra };
}

/**
 * Which Python interpreter autorubric runs, and the environment it runs with.
 *
 * In order: `ARR_PYTHON` when set (a user-managed interpreter, e.g. one with a CUDA torch); a
 * development checkout's own `py-runtime/.venv` (what `npm run setup:python` makes, and what the test
 * suite uses); the per-user runtime that `arr setup` makes for an installed package
 * (`$ARR_HOME/py-<lock hash>`, default `~/.cache/autorubric/...`), shared by every project that uses
 * the same autorubric version. The environment puts `py-runtime/` on `PYTHONPATH`, makes Python
 * unbuffered (so logs arrive as they happen) and sets `HF_HUB_OFFLINE=1`: nothing autorubric starts
 * may ever download weights.
 */
import { createHash } from "node:crypto";
import { accessSync, constants, existsSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
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

/** The pinned requirements of the runtime (what `arr setup` installs). */
export function lockFile(root: string = packageRoot()): string {
  return join(root, "py-runtime", "requirements.lock");
}

/** sha256 of the lock file: the per-user runtime is keyed by it, so an upgrade gets a fresh one. */
export function lockHash(root: string = packageRoot()): string {
  return createHash("sha256")
    .update(readFileSync(lockFile(root)))
    .digest("hex");
}

/** Where per-user runtimes live: `$ARR_HOME`, else `$XDG_CACHE_HOME/autorubric`, else `~/.cache/autorubric`. */
export function runtimeHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ARR_HOME) return resolve(env.ARR_HOME);
  const cache = env.XDG_CACHE_HOME ? resolve(env.XDG_CACHE_HOME) : join(env.HOME || homedir(), ".cache");
  return join(cache, "autorubric");
}

/** The per-user runtime (a venv) for this package's lock file. */
export function userRuntimeDir(env: NodeJS.ProcessEnv = process.env, root: string = packageRoot()): string {
  return join(runtimeHome(env), `py-${lockHash(root).slice(0, 16)}`);
}

/** A development checkout's venv (`npm run setup:python`); an installed package has none. */
export function checkoutVenvDir(root: string = packageRoot()): string {
  return join(root, "py-runtime", ".venv");
}

/** True in a development checkout (sources present), false in an installed package. */
export function isDevCheckout(root: string = packageRoot()): boolean {
  return existsSync(join(root, "src", "cli", "main.ts"));
}

/** How to run `arr ARGS` where this package lives (a checkout has no `arr` on its PATH). */
export function cliCommand(args: string, root: string = packageRoot()): string {
  return isDevCheckout(root) ? `npm run arr -- ${args}` : `npx arr ${args}`;
}

/** The command that sets the runtime up where this package lives, with `arr setup` flags. */
export function setupCommand(flags = "", root: string = packageRoot()): string {
  const base = isDevCheckout(root) ? "npm run setup:python" : "npx arr setup";
  if (!flags) return base;
  return isDevCheckout(root) ? `${base} -- ${flags}` : `${base} ${flags}`;
}

export interface PythonSelection {
  /** Absolute path of the interpreter. */
  path: string;
  /**
   * Where it came from: the `ARR_PYTHON` variable, the development checkout's `py-runtime/.venv`, or
   * the per-user runtime made by `arr setup`.
   */
  source: "ARR_PYTHON" | "venv" | "user";
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
 * Chooses the interpreter (order in the module comment). Checked up front because pythonia (and
 * spawn in general) reports a bad path as an unhandled `error` event that takes Node down.
 */
export function resolvePython(
  env: NodeJS.ProcessEnv = process.env,
  root: string = packageRoot(),
): PythonSelection {
  const configured = env.ARR_PYTHON;
  if (configured !== undefined && configured !== "") {
    const path = resolve(configured);
    if (!isExecutableFile(path)) {
      throw new BridgeError(`ARR_PYTHON=${configured} is not an executable file`, {
        pythonType: "SetupError",
        hint: `point ARR_PYTHON at a Python >= 3.10 interpreter (not a directory), or unset it and run \`${setupCommand("", root)}\``,
      });
    }
    return { path, source: "ARR_PYTHON" };
  }
  const checkout = join(checkoutVenvDir(root), "bin", "python");
  if (isExecutableFile(checkout)) return { path: checkout, source: "venv" };
  const user = join(userRuntimeDir(env, root), "bin", "python");
  if (isExecutableFile(user)) return { path: user, source: "user" };
  const where = isDevCheckout(root) ? checkout : user;
  throw new BridgeError(`the Python runtime is not installed (${where} is missing)`, {
    pythonType: "SetupError",
    hint: `run \`${setupCommand("", root)}\` (or set ARR_PYTHON to an interpreter that has ${lockFile(root)} installed)`,
  });
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

import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { BridgeError, SetupError } from "../../src/errors.js";
import { lockHash, resolvePython, setupCommand, userRuntimeDir } from "../../src/runtime/python.js";
import {
  cudaVariantFor,
  driverCudaVersion,
  installCommands,
  lockedTorchVersion,
  PYTORCH_INDEX,
  STAMP_FILE,
  setupRuntime,
  torchRequirement,
} from "../../src/runtime/setup.js";

const realLock = join(import.meta.dirname, "..", "..", "py-runtime", "requirements.lock");

/**
 * A stand-in for `python3` that records every call: `-m venv DIR` makes DIR/bin/python (a copy of
 * itself), `-m pip install` remembers the torch it was asked for (and fails for a labelled CUDA torch
 * unless PyTorch's index is named, like a machine whose sources lack CUDA builds), `-c` answers the
 * version probe and the import check.
 */
const FAKE_PYTHON = `#!/usr/bin/env bash
here=$(cd "$(dirname "$0")" && pwd)
printf '%s\\n' "$*" >> "$FAKE_LOG"
if [[ "$1 $2" == "-m venv" ]]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python" && exit 0; fi
if [[ "$1 $2" == "-m pip" ]]; then
  [[ -n "\${FAKE_PIP_FAIL:-}" ]] && { echo "ERROR: pip failed on purpose"; exit 1; }
  for a in "$@"; do
    if [[ "$a" == torch==*+cu* && "$*" != *--index-url* ]]; then echo "ERROR: No matching distribution found for $a"; exit 1; fi
    [[ "$a" == torch==* ]] && echo "\${a#torch==}" > "$here/../torch-version"
  done
  echo "Successfully installed"; exit 0
fi
if [[ "$1" == "-c" && "$2" == *importlib.metadata* ]]; then cat "$here/../torch-version" 2>/dev/null; exit $?; fi
if [[ "$1" == "-c" && "$2" == *version_info* ]]; then echo "\${FAKE_PY_VERSION:-3.11}"; exit 0; fi
if [[ "$1" == "-c" && "$2" == *"import torch"* ]]; then echo "UserWarning: something on stderr" >&2; cat "$here/../torch-version"; exit 0; fi
exit 3
`;

function fixture(lockText = readFileSync(realLock, "utf8")) {
  const dir = mkdtempSync(join(tmpdir(), "arr-setup-"));
  const root = join(dir, "pkg");
  mkdirSync(join(root, "py-runtime"), { recursive: true });
  writeFileSync(join(root, "py-runtime", "requirements.lock"), lockText);
  const python = join(dir, "python3");
  writeFileSync(python, FAKE_PYTHON);
  chmodSync(python, 0o755);
  const log = join(dir, "calls.log");
  writeFileSync(log, "");
  const env = { PATH: process.env.PATH, HOME: dir, ARR_HOME: join(dir, "home"), FAKE_LOG: log };
  const calls = () => readFileSync(log, "utf8").split("\n").filter(Boolean);
  const noDriver = async () => null;
  return { dir, root, python, env, calls, noDriver };
}

describe("torch build choice", () => {
  it("picks the newest CUDA build the driver can run", () => {
    expect(cudaVariantFor([11, 8])).toBeNull();
    expect(cudaVariantFor([12, 4])).toBeNull();
    expect(cudaVariantFor([12, 8])).toBe("cu126");
    expect(cudaVariantFor([12, 9])).toBe("cu129");
    expect(cudaVariantFor([13, 1])).toBe("cu130");
    expect(cudaVariantFor([13, 2])).toBe("cu132");
    expect(cudaVariantFor([14, 0])).toBe("cu132");
  });

  it("reads the driver's CUDA version from nvidia-smi's banner", () => {
    const banner =
      "| NVIDIA-SMI 580.95.05              Driver Version: 580.95.05      CUDA Version: 13.0     |";
    expect(driverCudaVersion(banner)).toEqual([13, 0]);
    expect(driverCudaVersion("command not found")).toBeNull();
  });

  it("pins torch with its build label, installs it before the lock, and falls back to PyTorch's index", () => {
    expect(lockedTorchVersion(readFileSync(realLock, "utf8"))).toMatch(/^\d+\.\d+\.\d+$/);
    expect(() => lockedTorchVersion("numpy==2.0.0\ntorch>=2\n")).toThrow(SetupError);
    expect(torchRequirement("2.13.0", "cpu", "linux")).toBe("torch==2.13.0+cpu");
    expect(torchRequirement("2.13.0", "cpu", "darwin")).toBe("torch==2.13.0");
    const [torch, rest, check] = installCommands({
      python: "/v/bin/python",
      lockFile: "/p/requirements.lock",
      torchVersion: "2.13.0",
      variant: "cu130",
      platform: "linux",
    });
    expect(torch?.argv).toEqual([
      "/v/bin/python",
      "-m",
      "pip",
      "install",
      "--disable-pip-version-check",
      "--no-input",
      "torch==2.13.0+cu130",
    ]);
    expect(torch?.fallback?.slice(-3)).toEqual([
      "--index-url",
      `${PYTORCH_INDEX}/cu130`,
      "torch==2.13.0+cu130",
    ]);
    expect(PYTORCH_INDEX).toBe("https://download.pytorch.org/whl");
    expect(rest?.argv.slice(-2)).toEqual(["-r", "/p/requirements.lock"]);
    expect(check?.argv.slice(0, 2)).toEqual(["/v/bin/python", "-c"]);
  });
});

describe("setupRuntime", () => {
  it("installs a CPU runtime into the per-user location once; a second run does nothing", async () => {
    const f = fixture();
    const first = await setupRuntime({
      root: f.root,
      env: f.env,
      basePython: f.python,
      detectDriver: f.noDriver,
    });
    const venv = join(f.env.ARR_HOME, `py-${lockHash(f.root).slice(0, 16)}`);
    expect(first).toMatchObject({
      action: "installed",
      venv,
      torch: "cpu",
      python: join(venv, "bin", "python"),
    });
    const calls = f.calls();
    expect(calls[0]).toMatch(/^-c .*version_info/);
    expect(calls[1]).toBe(`-m venv ${venv}`);
    // torch first, with its label, from the configured sources; then the whole lock; then the check.
    expect(calls[2]).toMatch(/^-m pip install .*torch==\d+\.\d+\.\d+\+cpu$/);
    expect(calls[2]).not.toContain("--index-url");
    expect(calls[3]).toMatch(/-r .*requirements\.lock$/);
    expect(calls[4]).toMatch(/^-c import torch/);
    expect(JSON.parse(readFileSync(join(venv, STAMP_FILE), "utf8"))).toEqual({
      lock_sha256: lockHash(f.root),
      torch: "cpu",
    });
    // The interpreter autorubric picks in an installed package (no checkout venv, no ARR_PYTHON).
    expect(resolvePython(f.env, f.root)).toEqual({ path: join(venv, "bin", "python"), source: "user" });

    const again = await setupRuntime({
      root: f.root,
      env: f.env,
      basePython: f.python,
      detectDriver: f.noDriver,
    });
    expect(again.action).toBe("ready");
    expect(f.calls()).toHaveLength(5);
  });

  it("reinstalls into the same venv when the lock changes, without recreating it", async () => {
    const f = fixture();
    const venv = join(f.dir, "venv");
    await setupRuntime({ root: f.root, env: f.env, venv, basePython: f.python, detectDriver: f.noDriver });
    writeFileSync(
      join(f.root, "py-runtime", "requirements.lock"),
      `${readFileSync(realLock, "utf8")}extra==1.0\n`,
    );
    const before = f.calls().length;
    const r = await setupRuntime({
      root: f.root,
      env: f.env,
      venv,
      basePython: f.python,
      detectDriver: f.noDriver,
    });
    expect(r.action).toBe("installed");
    const calls = f.calls().slice(before);
    expect(calls.some((c) => c.includes("-m venv"))).toBe(false);
    expect(calls.filter((c) => c.startsWith("-m pip install"))).toHaveLength(2);
  });

  it("installs the driver's CUDA build from PyTorch's index when the sources lack it, and keeps it on auto", async () => {
    const f = fixture();
    const venv = join(f.dir, "venv");
    const r = await setupRuntime({
      root: f.root,
      env: f.env,
      venv,
      torch: "cuda",
      basePython: f.python,
      detectDriver: async () => [12, 9],
    });
    expect(r).toMatchObject({ action: "installed", torch: "cu129" });
    const pips = f.calls().filter((c) => c.includes("torch=="));
    expect(pips).toHaveLength(2);
    expect(pips[0]).not.toContain("--index-url");
    expect(pips[1]).toContain(`--index-url ${PYTORCH_INDEX}/cu129 torch==`);
    expect(pips[1]).toMatch(/\+cu129$/);
    // auto keeps the installed build even where no driver is visible (e.g. a login node).
    const again = await setupRuntime({
      root: f.root,
      env: f.env,
      venv,
      basePython: f.python,
      detectDriver: f.noDriver,
    });
    expect(again).toMatchObject({ action: "ready", torch: "cu129" });
  });

  it("says what it needs when --torch cuda finds no driver, and plans without running on --dry-run", async () => {
    const f = fixture();
    await expect(
      setupRuntime({
        root: f.root,
        env: f.env,
        torch: "cuda",
        basePython: f.python,
        detectDriver: f.noDriver,
      }),
    ).rejects.toThrow(/no NVIDIA driver/);
    const plan = await setupRuntime({
      root: f.root,
      env: f.env,
      torch: "cu132",
      dryRun: true,
      basePython: f.python,
    });
    expect(plan.action).toBe("planned");
    expect(plan.commands.map((c) => c.argv[1])).toEqual(["-m", "-m", "-m", "-c"]);
    expect(plan.commands[1]?.fallback).toContain(`${PYTORCH_INDEX}/cu132`);
    expect(f.calls()).toEqual([]);
  });

  it("keeps the torch build of a venv set up before stamps existed", async () => {
    const f = fixture();
    const venv = join(f.dir, "venv");
    mkdirSync(join(venv, "bin"), { recursive: true });
    writeFileSync(join(venv, "bin", "python"), readFileSync(f.python));
    chmodSync(join(venv, "bin", "python"), 0o755);
    writeFileSync(join(venv, "torch-version"), "2.13.0+cpu\n");
    const r = await setupRuntime({ root: f.root, env: f.env, venv, detectDriver: async () => [13, 0] });
    expect(r).toMatchObject({ action: "installed", torch: "cpu" });
    expect(
      f
        .calls()
        .filter((c) => c.includes("torch=="))
        .every((c) => c.endsWith("+cpu")),
    ).toBe(true);
  });

  it("leaves no stamp when pip fails, so the next run tries again", async () => {
    const f = fixture();
    const venv = join(f.dir, "venv");
    const failing = { ...f.env, FAKE_PIP_FAIL: "1" };
    const error = await setupRuntime({
      root: f.root,
      env: failing,
      venv,
      basePython: f.python,
      detectDriver: f.noDriver,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SetupError);
    expect((error as SetupError).message).toContain("pip failed on purpose");
    expect(existsSync(join(venv, STAMP_FILE))).toBe(false);
    const r = await setupRuntime({
      root: f.root,
      env: f.env,
      venv,
      basePython: f.python,
      detectDriver: f.noDriver,
    });
    expect(r.action).toBe("installed");
  });

  it("refuses a base Python older than 3.10, and never touches ARR_PYTHON's interpreter", async () => {
    const f = fixture();
    await expect(
      setupRuntime({
        root: f.root,
        env: { ...f.env, FAKE_PY_VERSION: "3.8" },
        basePython: f.python,
        detectDriver: f.noDriver,
      }),
    ).rejects.toThrow(/Python 3\.8.*>= 3\.10/);
    const skipped = await setupRuntime({ root: f.root, env: { ...f.env, ARR_PYTHON: f.python } });
    expect(skipped.action).toBe("skipped");
    expect(skipped.note).toContain(`${f.python} -m pip install -r`);
    expect(f.calls().filter((c) => !c.includes("version_info"))).toEqual([]);
  });
});

describe("setupRuntime with the real pip", () => {
  it("runs its pip commands and import check in a real venv, then finds it ready", async () => {
    // A venv without packages of its own that sees the test suite's runtime through a .pth file: pip
    // finds every pin satisfied, so nothing is downloaded or installed, but every command is real.
    const runtime = resolvePython().path;
    const venv = mkdtempSync(join(tmpdir(), "arr-setup-real-"));
    await execa(runtime, ["-m", "venv", "--without-pip", venv]);
    const purelib = (python: string) =>
      execa(python, ["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).then((r) =>
        r.stdout.trim(),
      );
    writeFileSync(
      join(await purelib(join(venv, "bin", "python")), "suite-runtime.pth"),
      `${await purelib(runtime)}\n`,
    );
    const log: string[] = [];
    const first = await setupRuntime({
      venv,
      torch: "auto",
      detectDriver: async () => null,
      onLog: (l) => log.push(l),
    });
    expect(first.action, log.slice(-20).join("\n")).toBe("installed");
    // auto keeps the build the venv already has: the suite runtime's.
    const version = await execa(runtime, ["-c", "import importlib.metadata as m; print(m.version('torch'))"]);
    expect(first.torch).toBe(version.stdout.trim().split("+")[1]);
    expect(log.some((l) => /Requirement already satisfied: torch==/.test(l))).toBe(true);
    expect(JSON.parse(readFileSync(join(venv, STAMP_FILE), "utf8")).torch).toBe(first.torch);
    const second = await setupRuntime({ venv, detectDriver: async () => null });
    expect(second.action).toBe("ready");
    await rm(venv, { recursive: true, force: true });
  }, 600_000);
});

describe("resolvePython", () => {
  it("prefers ARR_PYTHON, then a checkout's py-runtime/.venv, then the per-user runtime", () => {
    const f = fixture();
    const user = join(userRuntimeDir(f.env, f.root), "bin");
    const checkout = join(f.root, "py-runtime", ".venv", "bin");
    const missing = (() => {
      try {
        return resolvePython(f.env, f.root);
      } catch (error) {
        return error as BridgeError;
      }
    })();
    expect(missing).toBeInstanceOf(BridgeError);
    expect((missing as BridgeError).message).toContain(user);
    expect((missing as BridgeError).hint).toMatch(/^run `npx arr setup`/);
    for (const bin of [user, checkout]) {
      mkdirSync(bin, { recursive: true });
      writeFileSync(join(bin, "python"), "#!/bin/sh\n");
      chmodSync(join(bin, "python"), 0o755);
    }
    expect(resolvePython(f.env, f.root)).toEqual({ path: join(checkout, "python"), source: "venv" });
    expect(resolvePython({ ...f.env, ARR_PYTHON: f.python }, f.root)).toEqual({
      path: f.python,
      source: "ARR_PYTHON",
    });
  });

  it("names the setup command that exists where the package lives", () => {
    const f = fixture();
    expect(setupCommand("--torch cuda", f.root)).toBe("npx arr setup --torch cuda");
    const checkout = join(import.meta.dirname, "..", "..");
    expect(setupCommand("--torch cuda", checkout)).toBe("npm run setup:python -- --torch cuda");
  });
});

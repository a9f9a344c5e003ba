/**
 * `--help` must never start Python. Runs in its own test file (its own worker), so pythonia has not
 * been loaded by another test: if any command imported it eagerly, pythonia would spawn the fake
 * interpreter below at import time and leave its marker file.
 */
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Command, CommanderError } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBridge } from "../../src/runtime/bridge.js";
import { resolvePython } from "../../src/runtime/python.js";

const dir = mkdtempSync(join(tmpdir(), "arr-help-"));
const marker = join(dir, "python-started");
const fake = join(dir, "python");
const saved = { ARR_PYTHON: process.env.ARR_PYTHON, PYTHON_BIN: process.env.PYTHON_BIN };

beforeAll(() => {
  writeFileSync(fake, `#!/bin/sh\ntouch ${marker}\nexec ${resolvePython().path} "$@"\n`);
  chmodSync(fake, 0o755);
  process.env.ARR_PYTHON = fake;
  process.env.PYTHON_BIN = fake;
});
afterAll(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

async function help(args: string[]): Promise<string> {
  const { buildProgram } = await import("../../src/cli/main.js");
  let out = "";
  const program = buildProgram();
  const capture = (cmd: Command): void => {
    cmd.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
    cmd.commands.forEach(capture);
  };
  capture(program);
  try {
    await program.parseAsync(["node", "arr", ...args]);
  } catch (error) {
    if (!(error instanceof CommanderError) || error.exitCode !== 0) throw error;
  }
  return out;
}

describe("--help", () => {
  it("prints usage for the program and the Python-backed commands without starting Python", async () => {
    for (const args of [
      ["--help"],
      ["doctor", "--help"],
      ["sample", "--help"],
      ["referee", "serve", "--help"],
    ]) {
      expect(await help(args), args.join(" ")).toContain("Usage:");
    }
    expect(existsSync(marker)).toBe(false);
    // Control: the marker does appear when Python is really started through the fake interpreter.
    const bridge = await createBridge();
    await bridge.close();
    expect(existsSync(marker)).toBe(true);
  });
});

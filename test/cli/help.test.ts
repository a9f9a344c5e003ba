import { chmodSync, existsSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { buildProgram, isEntryPoint } from "../../src/cli/main.js";

const root = path.resolve(import.meta.dirname, "../..");
const main = path.join(root, "src/cli/main.ts");

describe("arr --help", () => {
  it("lists the commands without starting Python or importing pythonia", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "arr-help-"));
    const spawned = path.join(dir, "python-was-run");
    const imported = path.join(dir, "pythonia-was-imported");
    // Every way of finding an interpreter leads to a fake one that leaves a marker.
    for (const name of ["python", "python3"]) {
      const fake = path.join(dir, name);
      writeFileSync(fake, `#!/bin/sh\necho "$0 $*" >> '${spawned}'\nexit 1\n`);
      chmodSync(fake, 0o755);
    }
    const fake = path.join(dir, "python3");
    const result = await execa(
      process.execPath,
      [
        "--import",
        "tsx",
        "--import",
        path.join(import.meta.dirname, "support/trace-imports.mjs"),
        main,
        "--help",
      ],
      {
        cwd: root,
        reject: false,
        env: {
          PATH: `${dir}:${process.env.PATH}`,
          PYTHON_BIN: fake,
          ARR_PYTHON: fake,
          ARR_TRACE_IMPORTS: imported,
        },
      },
    );
    expect(result.exitCode, result.stderr).toBe(0);
    const listed = buildProgram().commands.map((c) => c.name());
    expect(listed).toContain("config");
    for (const name of listed) expect(result.stdout).toMatch(new RegExp(`^\\s+${name}\\b`, "m"));
    expect(existsSync(spawned) ? readFileSync(spawned, "utf8") : "").toBe("");
    expect(existsSync(imported) ? readFileSync(imported, "utf8") : "").toBe("");
  });

  it("runs through a symlinked bin, as node_modules/.bin/arr does", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "arr-bin-"));
    const bin = path.join(dir, "arr");
    symlinkSync(main, bin);
    expect(isEntryPoint(bin, pathToFileURL(main).href)).toBe(true);
    expect(isEntryPoint(path.join(root, "package.json"), pathToFileURL(main).href)).toBe(false);
    expect(isEntryPoint(undefined, pathToFileURL(main).href)).toBe(false);
    const result = await execa(process.execPath, ["--import", "tsx", bin, "config", "presets"], {
      cwd: root,
      reject: false,
    });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^flux-rpo-8gpu\s+FLUX\.1-dev/m);
  });
});

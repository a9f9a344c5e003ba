/** Runs the `arr` CLI in this process and captures what it writes (faster than a subprocess). */
import { vi } from "vitest";
import { main } from "../../src/cli/main.js";

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** `arr ...args`, optionally from another working directory (restored afterwards). */
export async function runArr(args: readonly string[], options: { cwd?: string } = {}): Promise<CliResult> {
  let out = "";
  let err = "";
  const o = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    out += String(chunk);
    return true;
  });
  const e = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
    err += String(chunk);
    return true;
  });
  const cwd = process.cwd();
  try {
    if (options.cwd) process.chdir(options.cwd);
    const code = await main(["node", "arr", ...args]);
    return { code, out, err };
  } finally {
    process.chdir(cwd);
    o.mockRestore();
    e.mockRestore();
    // Commands that fail set process.exitCode; left set, it would fail the test run itself.
    process.exitCode = undefined;
  }
}

/** Runs test/plan/support/torch_reference.py with the runtime's interpreter and returns its JSON. */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { pythonEnv, resolvePython } from "../../../src/runtime/python.js";

const script = fileURLToPath(new URL("./torch_reference.py", import.meta.url));

export async function torchReference<T>(request: Record<string, unknown>): Promise<T> {
  const { stdout } = await promisify(execFile)(resolvePython().path, [script, JSON.stringify(request)], {
    env: pythonEnv(process.env, { TRANSFORMERS_VERBOSITY: "error" }),
    maxBuffer: 16 * 2 ** 20,
  });
  return JSON.parse(stdout) as T;
}

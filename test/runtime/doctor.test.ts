import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import type { Config } from "../../src/config/schema.js";
import { type DoctorReport, runDoctor } from "../../src/runtime/doctor.js";

const root = join(import.meta.dirname, "..", "..");
const tsx = join(root, "node_modules", ".bin", "tsx");

describe("arr doctor", () => {
  it("--json prints only parseable JSON that reports the venv's torch and the offline referee", async () => {
    const r = await execa(
      tsx,
      [join(root, "src", "cli", "main.ts"), "doctor", "--json", "--preset", "tiny-cpu"],
      {
        cwd: root,
        reject: false,
        timeout: 300_000, // only catches a hang: Python imports torch, slow on a busy machine
      },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as DoctorReport;
    expect(report.ok).toBe(true);
    expect(report.python.path).toBe(join(root, "py-runtime", ".venv", "bin", "python"));
    // The version the venv really has, not a hard-coded one.
    const torch = await execa(report.python.path as string, [
      "-c",
      "import importlib.metadata as m; print(m.version('torch'))",
    ]);
    expect(report.python.versions?.torch).toBe(torch.stdout.trim());
    expect(report.checks.find((c) => c.name === "torch")?.ok).toBe(true);
    expect(report.checks.find((c) => c.name === "autorubric_runtime")?.ok).toBe(true);
    expect(report.vlm?.provider).toBe("referee");
    expect(report.vlm?.endpoints[0]?.ok).toBe(true);
  });

  it("fails with the fix when the interpreter is missing, and when the endpoint does not answer", async () => {
    const config = {
      vlm: {
        provider: "openai-compatible",
        model: "Qwen/Qwen3-VL-8B-Instruct",
        base_url: "http://127.0.0.1:9/v1",
        api_key_env: "ARR_TEST_MISSING_KEY",
      },
    } as unknown as Config;
    const report = await runDoctor({
      config,
      env: { ARR_PYTHON: "/nonexistent/python3" },
      endpointTimeoutMs: 1000,
    });
    expect(report.ok).toBe(false);
    const python = report.checks.find((c) => c.name === "Python");
    expect(python?.ok).toBe(false);
    expect(python?.problem).toContain("/nonexistent/python3");
    expect(python?.fix).toMatch(/ARR_PYTHON|setup:python/);
    const key = report.checks.find((c) => c.name.startsWith("VLM key"));
    expect(key?.fix).toBe("export ARR_TEST_MISSING_KEY=<your key>");
    const endpoint = report.checks.find((c) => c.name.startsWith("VLM endpoint"));
    expect(endpoint?.ok).toBe(false);
    expect(endpoint?.fix).toMatch(/vllm serve Qwen\/Qwen3-VL-8B-Instruct/);
  });
});

/**
 * Parity of what TypeScript sends to Python with what Python parses: the zod payload schemas
 * (src/runtime/payload.ts) against the frozen dataclasses of py-runtime/autorubric_runtime/run_config.py.
 * A field on one side only fails here; py-runtime/tests/test_run_config.py checks that the runtime
 * reads nothing but dataclass fields.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { keyTree } from "../../src/config/issues.js";
import { ConfigSchema } from "../../src/config/schema.js";
import {
  SampleRequestSchema,
  sampleRequest,
  TrackingPayloadSchema,
  WorkerConfigSchema,
  workerConfig,
} from "../../src/runtime/payload.js";
import { pyRuntimeDir, pythonEnv, resolvePython } from "../../src/runtime/python.js";

/** The schema's defaults with the fewest required fields: what py-runtime's tests start from. */
function defaultConfig() {
  const config = ConfigSchema.parse({
    train: { model: { family: "flux", path: "tiny" }, dataset: { path: "prompts.txt" } },
  });
  if (!config.train) throw new Error("unreachable: the train section was given");
  return { ...config, train: config.train };
}

const RUN = {
  runDir: "/runs/example",
  promptsFile: "/runs/example/prompts.jsonl",
  resume: false,
  serviceUrl: "http://127.0.0.1:8000",
};

describe("worker payload", () => {
  it("carries only what the workers read, and the strict schema accepts it", () => {
    const payload = workerConfig(defaultConfig(), RUN);
    expect(WorkerConfigSchema.parse(payload)).toEqual(payload);
    expect(payload.dataset).toEqual({ shuffle: true });
    expect(payload.distributed).toEqual({
      strategy: "ddp",
      backend: "auto",
      node_rank: 0,
      shared_run_dir: false,
    });
    expect(payload.service).toEqual({ url: RUN.serviceUrl, token: null });
    expect(Object.keys(payload.rpo)).not.toContain("win_reward");
    expect(Object.keys(payload.optim)).not.toContain("scheduler");
  });

  it("is what py-runtime's tests use as their defaults (tests/fixtures/run.json)", () => {
    const fixture = JSON.parse(readFileSync(join(pyRuntimeDir(), "tests", "fixtures", "run.json"), "utf8"));
    // On a schema change, write the new payload there: JSON.stringify(workerConfig(defaultConfig(), RUN), null, 2).
    expect(fixture).toEqual(workerConfig(defaultConfig(), RUN));
  });

  it("has exactly the fields of the Python dataclasses, recursively", async () => {
    const python = resolvePython();
    const { stdout } = await execa(
      python.path,
      [
        "-c",
        "import json; from autorubric_runtime.run_config import RunCfg, SampleRequest, TrackingCfg, key_tree; " +
          "print(json.dumps({'run': key_tree(RunCfg), 'sample': key_tree(SampleRequest), 'tracking': key_tree(TrackingCfg)}))",
      ],
      { env: pythonEnv(), extendEnv: false },
    );
    const python_ = JSON.parse(stdout) as { run: unknown; sample: unknown; tracking: unknown };
    expect(keyTree(WorkerConfigSchema)).toEqual(python_.run);
    expect(keyTree(SampleRequestSchema)).toEqual(python_.sample);
    expect(keyTree(TrackingPayloadSchema)).toEqual(python_.tracking);
  });

  it("builds the sample op's arguments from the train section's model and sampler", () => {
    const { train } = defaultConfig();
    const request = sampleRequest(train, {
      lora_dir: null,
      prompts: ["a red cat"],
      seeds: [3],
      out_dir: "/tmp/out",
      source_images: null,
      layout: "flat",
      images_per_prompt: 1,
    });
    expect(SampleRequestSchema.parse(request)).toEqual(request);
    expect(request.model).toEqual(train.model);
    expect(request.sampler).toEqual(train.sampler);
  });
});

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { readSamplePrompts } from "../../src/data/sample-prompts.js";
import { UsageError } from "../../src/errors.js";
import type { Bridge } from "../../src/runtime/bridge.js";
import { sample } from "../../src/runtime/sample.js";

function tmp(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "arr-sample-"));
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** A recording stand-in for the bridge: the Python side of `sample` is tested in pytest. */
function recordingBridge(): Bridge & { calls: { op: string; args: Record<string, unknown> }[] } {
  const calls: { op: string; args: Record<string, unknown> }[] = [];
  return {
    calls,
    pid: 0,
    python: "python",
    alive: true,
    async call<T>(op: string, args: Record<string, unknown> = {}) {
      calls.push({ op, args });
      const n = (args.prompts as unknown[]).length * (args.images_per_prompt as number);
      return { images: Array.from({ length: n }, (_, i) => `/out/${i}.png`) } as T;
    },
    async close() {},
  };
}

describe("sample", () => {
  it("sends the train section, GenEval metadata and distinct seeds to the sample op", async () => {
    const { config } = await loadConfig({ preset: "tiny-cpu" });
    const bridge = recordingBridge();
    const prompts = await readSamplePrompts(
      tmp(
        "m.jsonl",
        '{"tag": "a", "include": [], "prompt": "one"}\n{"tag": "b", "include": [], "prompt": "two"}\n',
      ),
    );
    const result = await sample({
      config,
      prompts,
      outDir: "/tmp/x",
      layout: "geneval",
      seed: 10,
      imagesPerPrompt: 4,
      bridge,
    });
    const args = bridge.calls[0]?.args ?? {};
    expect(bridge.calls[0]?.op).toBe("sample");
    expect(args.model).toEqual(config.train?.model);
    expect(args.sampler).toEqual(config.train?.sampler);
    expect(args.prompts).toEqual([
      { tag: "a", include: [], prompt: "one" },
      { tag: "b", include: [], prompt: "two" },
    ]);
    // Image j of prompt i uses seed + 4i + j: no two images share a seed.
    expect(args.seeds).toEqual([10, 14]);
    expect(args.layout).toBe("geneval");
    expect(args.lora_dir).toBeNull();
    expect(result.images).toHaveLength(8);

    await sample({ config, prompts, outDir: "/tmp/x", bridge });
    expect(bridge.calls[1]?.args.prompts).toEqual(["one", "two"]);
    expect(bridge.calls[1]?.args.seeds).toEqual([
      config.train?.sampler.seed,
      (config.train?.sampler.seed ?? 0) + 1,
    ]);
  });

  it("samples with the configured eta unless an eta is given (0: the deterministic sampler)", async () => {
    const { config } = await loadConfig({ preset: "tiny-cpu" });
    const bridge = recordingBridge();
    const prompts = await readSamplePrompts(tmp("p.txt", "one\n"));
    await sample({ config, prompts, outDir: "/tmp/x", bridge });
    await sample({ config, prompts, outDir: "/tmp/x", bridge, eta: 0 });
    const sent = bridge.calls.map((c) => c.args.sampler as { eta: number; steps: number });
    expect(sent[0]?.eta).toBe(config.train?.sampler.eta);
    expect(sent[1]).toEqual({ ...config.train?.sampler, eta: 0 });
  });

  it("rejects a missing LoRA directory before starting Python", async () => {
    const { config } = await loadConfig({ preset: "tiny-cpu" });
    const bridge = recordingBridge();
    const error = await sample({
      config,
      prompts: [{ prompt: "x", metadata: null, sourceImage: null }],
      outDir: "/tmp/x",
      loraDir: "/nonexistent/lora",
      bridge,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect(bridge.calls).toHaveLength(0);
  });
});

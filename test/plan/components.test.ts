import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { editProcessorFile, judgeProcessorFile, resolveComponents } from "../../src/plan/components.js";
import { packageRoot } from "../../src/runtime/python.js";

const root = packageRoot();

describe("component configs", () => {
  it("a model folder's own config wins per component; the rest come from configs/models/", () => {
    const dir = mkdtempSync(join(tmpdir(), "arr-model-"));
    mkdirSync(join(dir, "transformer"));
    writeFileSync(join(dir, "transformer", "config.json"), "{}");
    const rows = resolveComponents("flux", dir, root);
    expect(rows.map((r) => [r.name, r.source])).toEqual([
      ["transformer", "model"],
      ["text_encoder_2", "shipped"],
      ["text_encoder", "shipped"],
      ["vae", "shipped"],
    ]);
    expect(rows[0]?.configFile).toBe(join(dir, "transformer", "config.json"));
    expect(rows[3]?.configFile).toBe(join(root, "configs", "models", "flux.1-dev", "vae", "config.json"));
  });

  it("a hub id reads the shipped configs", () => {
    expect(resolveComponents("qwen-edit", null, root).every((r) => r.source === "shipped")).toBe(true);
  });

  it("finds the judge's image processor by model family", () => {
    expect(judgeProcessorFile("Qwen/Qwen3-VL-8B-Instruct", root)).toMatch(/qwen3-vl-8b-instruct/);
    expect(judgeProcessorFile("qwen2.5-vl-72b-instruct", root)).toBe(editProcessorFile(null, root));
    expect(judgeProcessorFile("gpt-4.1", root)).toBeNull();
  });
});

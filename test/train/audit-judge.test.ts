import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { AuditJudgeSchema, hasAuditJudge, VlmSchema } from "../../src/config/schema.js";
import { auditVlmConfig, openAuditJudge } from "../../src/train/audit-judge.js";
import { UsageMeter } from "../../src/vlm/usage.js";

describe("the audit judge", () => {
  const vlm = VlmSchema.parse({ model: "qwen3-vl-8b", base_url: "http://a:8000/v1", api_key_env: "KEY_A" });

  it("takes the training VLM's settings for every null field", () => {
    const audit = AuditJudgeSchema.parse({ model: "gpt-4o", base_url: "https://b.example/v1" });
    expect(auditVlmConfig(vlm, audit)).toEqual({
      ...vlm,
      model: "gpt-4o",
      base_url: "https://b.example/v1",
    });
  });

  it("exists only when judge.audit sets a field", async () => {
    expect(hasAuditJudge(AuditJudgeSchema.parse({}))).toBe(false);
    expect(hasAuditJudge(AuditJudgeSchema.parse({ rubric_file: "x.yaml" }))).toBe(true);
    const { config } = await loadConfig({ preset: "tiny-cpu" });
    expect(
      await openAuditJudge(config, null, new UsageMeter({ budget: config.judge.budget, price: null })),
    ).toBeNull();
  });

  it("resolves its rubric file like judge.rubric_file", async () => {
    const { config } = await loadConfig({ preset: "tiny-cpu", set: ["judge.audit.rubric_file=audit.yaml"] });
    expect(config.judge.audit.rubric_file).toBe(`${process.cwd()}/audit.yaml`);
  });
});

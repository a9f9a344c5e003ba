import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import YAML from "yaml";
import { explainConfig } from "../../src/config/dump.js";
import { leafFields } from "../../src/config/issues.js";
import { ConfigValidationError, loadConfig } from "../../src/config/load.js";
import { ConfigSchema, DistributedSchema, trainedSteps } from "../../src/config/schema.js";
import { workersCheck } from "../../src/runtime/doctor.js";
import { torchrunArgs } from "../../src/runtime/torchrun.js";
import { openRunDir } from "../../src/train/run-dir.js";

const root = path.resolve(import.meta.dirname, "../..");

async function problemsOf(set: string[]) {
  try {
    await loadConfig({ cwd: root, preset: "tiny-cpu", set });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigValidationError);
    return (error as ConfigValidationError).problems;
  }
  throw new Error(`expected ${set.join(" ")} to be rejected`);
}

describe("the schema", () => {
  it("describes every leaf field", () => {
    const leaves = leafFields(ConfigSchema);
    expect(leaves.length).toBeGreaterThan(90);
    const undescribed = leaves.filter((leaf) => !leaf.description).map((leaf) => leaf.path.join("."));
    expect(undescribed).toEqual([]);
  });

  it("explains a config: one line per field with its value and description", async () => {
    const { config } = await loadConfig({ cwd: root, preset: "tiny-cpu" });
    const lines = explainConfig(config).trimEnd().split("\n");
    expect(lines).toHaveLength(leafFields(ConfigSchema).length);
    expect(lines).toContain(
      'train.sampler.judged_image: "x0_last"  # x0_last: x0 predicted at the last step (the paper\'s code); final: the last SDE sample',
    );
    expect(lines.find((l) => l.startsWith("train.sampler.eta: 1  # SDE noise level"))).toBeDefined();
    const { config: noTrain } = await loadConfig({ cwd: root, preset: "arr-qwen3vl-8b-t2i" });
    expect(explainConfig(noTrain)).not.toContain("train.");
  });
});

describe("rules that span fields", () => {
  it("needs at least one trained transition: floor((steps - 1) x timestep_fraction) >= 1", async () => {
    expect(trainedSteps(8, 1)).toBe(7);
    expect(trainedSteps(4, 0.67)).toBe(2);
    expect(trainedSteps(4, 0.3)).toBe(0);
    const [problem] = await problemsOf(["train.sampler.steps=4", "train.rpo.timestep_fraction=0.3"]);
    expect(problem?.path).toBe("train.rpo.timestep_fraction");
    expect(problem?.hint).toBe("use timestep_fraction >= 0.333 or more sampler.steps");
    // the boundary is accepted
    await loadConfig({
      cwd: root,
      preset: "tiny-cpu",
      set: ["train.sampler.steps=4", "train.rpo.timestep_fraction=0.34"],
    });
  });

  it("rejects eta = 0 for training, an edit task on a text-to-image model, several nodes without rendezvous", async () => {
    expect((await problemsOf(["train.sampler.eta=0"]))[0]?.path).toBe("train.sampler.eta");
    const [edit] = await problemsOf(["judge.task=edit"]);
    expect(edit).toMatchObject({ path: "train.model.family" });
    expect(edit?.hint).toContain("qwen-edit");
    const [nodes] = await problemsOf(["train.distributed.nnodes=2"]);
    expect(nodes?.path).toBe("train.distributed.rdzv_endpoint");
    await loadConfig({
      cwd: root,
      preset: "tiny-cpu",
      set: ["train.distributed.nnodes=2", "train.distributed.rdzv_endpoint=10.0.0.1:29500"],
    });
  });

  it("rejects LoRA dropout with the reason (it would never apply)", async () => {
    const [problem] = await problemsOf(["train.lora.dropout=0.05"]);
    expect(problem?.path).toBe("train.lora.dropout");
    expect(problem?.message).toContain("eval mode");
  });

  it("reports every rule that fails at once", async () => {
    const problems = await problemsOf([
      "train.sampler.eta=0",
      "train.lora.dropout=0.5",
      "train.distributed.nnodes=3",
    ]);
    expect(problems.map((p) => p.path).sort()).toEqual([
      "train.distributed.rdzv_endpoint",
      "train.lora.dropout",
      "train.sampler.eta",
    ]);
  });

  it("leaves torchrun standalone without a rendezvous endpoint", () => {
    const distributed = ConfigSchema.parse({
      train: { model: { family: "flux", path: "tiny" }, dataset: { path: "p.txt" } },
    }).train?.distributed;
    if (!distributed) throw new Error("unreachable");
    expect(torchrunArgs(distributed, "/r/run.json", "id")).toContain("--standalone");
    const multi = torchrunArgs({ ...distributed, nnodes: 2, rdzv_endpoint: "h:1" }, "/r/run.json", "id");
    expect(multi).toEqual(
      expect.arrayContaining(["--nnodes=2", "--rdzv_endpoint=h:1", "--rdzv_id=id", "--rdzv_conf=is_host=1"]),
    );
    // Node 0 hosts the rendezvous store; a joining node only connects to it.
    const joining = torchrunArgs(
      { ...distributed, nnodes: 2, node_rank: 1, rdzv_endpoint: "h:1" },
      "/r/n1.json",
      "id",
    );
    expect(joining).toEqual(expect.arrayContaining(["--node_rank=1", "--rdzv_conf=is_host=0"]));
  });

  it("warns in doctor when a node starts more workers than it has GPUs", () => {
    const nodes = (nproc_per_node: number, backend = "auto") =>
      DistributedSchema.parse({ nproc_per_node, backend });
    expect(workersCheck(nodes(8), 4)).toMatchObject({
      ok: false,
      required: false,
      fix: "--set train.distributed.nproc_per_node=4",
    });
    expect(workersCheck(nodes(4), 4)?.ok).toBe(true);
    // CPU-only machines run their workers on the CPU: nothing to warn about unless nccl is asked for
    expect(workersCheck(nodes(2), 0)).toBeNull();
    expect(workersCheck(nodes(2, "nccl"), 0)?.ok).toBe(false);
  });
});

describe("moved keys", () => {
  it("loads train.service.judge_concurrency (now judge.concurrency) from old files and run directories", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "arr-moved-"));
    const file = path.join(dir, "old.yaml");
    writeFileSync(file, "extends: tiny-cpu\ntrain:\n  service:\n    judge_concurrency: 3\n");
    const { config } = await loadConfig({ cwd: dir, file });
    expect(config.judge.concurrency).toBe(3);
    expect(config.train?.service).not.toHaveProperty("judge_concurrency");

    // a run directory written before the move stores the resolved config with the old key
    const stored = JSON.parse(JSON.stringify(config)) as Record<string, Record<string, unknown>>;
    delete stored.judge?.concurrency;
    (stored.train?.service as Record<string, unknown>).judge_concurrency = 5;
    writeFileSync(path.join(dir, "config.resolved.yaml"), YAML.stringify(stored));
    const reopened = await openRunDir(dir);
    expect(reopened.config.judge.concurrency).toBe(5);
  });
});

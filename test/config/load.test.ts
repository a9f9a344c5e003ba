import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigValidationError, loadConfig } from "../../src/config/load.js";
import { closest, editDistance, looksLikeSecret } from "../../src/config/suggest.js";
import { ConfigError } from "../../src/errors.js";

const root = path.resolve(import.meta.dirname, "../..");
const bad = path.join(root, "test/fixtures/config/bad");
const good = path.join(root, "test/fixtures/config/good");
const rel = (dir: string, file: string) => path.relative(root, path.join(dir, file));

async function failure(options: Parameters<typeof loadConfig>[0]): Promise<ConfigError> {
  try {
    await loadConfig({ cwd: root, ...options });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected the config to be rejected");
}

/** Each malformed file, the start of its message (file:line:col field) and what else it must say. */
const corpus: [file: string, where: string, says: string[], shown?: string][] = [
  ["unknown-key-typo.yaml", ":2:3 judge.ordre:", ['unknown key "ordre"', 'did you mean "order"']],
  ["unknown-key-alias.yaml", ":5:5 train.optim.lerning_rate:", ['did you mean "lr"']],
  ["wrong-type.yaml", ":5:12 train.sampler.steps:", ['expected a number, got "eight"']],
  ["out-of-range.yaml", ":9:17 train.rpo.clip_range:", ["expected a number < 1, got 2"]],
  [
    "syntax-error.yaml",
    ":4:10 YAML syntax error: this [ is never closed",
    ["4 |   order: [swap", "\n               ^"],
  ],
  ["duplicate-key.yaml", ":4:3 duplicate key", ['"name"', "4 |   name: second"]],
  // the cycle closes in cycle-b.yaml, which extends the file being expanded
  ["cycle-a.yaml", ":1:10 extends:", ["cycle: ", "cycle-a.yaml -> ", "cycle-b.yaml -> "], "cycle-b.yaml"],
  ["missing-extends.yaml", ":1:10 extends:", ['no such file "../good/does-not-exist.yaml"']],
  [
    "unknown-preset.yaml",
    ":1:10 extends:",
    ['unknown preset "flux-rpo-8gp"', 'did you mean "flux-rpo-8gpu"'],
  ],
  ["nested-unknown-key.yaml", ":5:5 vlm.image.max_sides:", ['did you mean "max_side"']],
  [
    "enum-mismatch.yaml",
    ":2:10 judge.order:",
    ['expected one of "single", "swap", "random", got "swp"', '"swap"?'],
  ],
  ["missing-model.yaml", ":2:3 train.model:", ["required field is missing", "family, path"]],
  ["negative-lr.yaml", ":4:9 train.optim.lr:", ["expected a number > 0, got -0.00001"]],
  ["api-key-literal.yaml", ":4:3 vlm.api_key:", ['unknown key "api_key"', "secrets never go in a config"]],
  ["api-key-env-value.yaml", ":4:16 vlm.api_key_env:", ["NAME of an environment variable", "(not shown)"]],
  ["not-a-mapping.yaml", ":1:1 (top level):", ["expected a mapping of sections", "got a list"]],
  ["misplaced-section.yaml", ":3:1 rpo:", ["did you mean train.rpo?"]],
  [
    "bad-url.yaml",
    ":3:13 vlm.base_url:",
    ['expected a URL such as http://localhost:8000/v1, got "localhost:8000"'],
  ],
  ["not-integer.yaml", ":3:14 train.max_steps:", ["expected an integer, got 1.5"]],
  ["short-list.yaml", ":4:12 train.optim.betas:", ["at least 2 items, got a list of 1 item"]],
  ["extends-not-string.yaml", ":1:10 extends:", ["expected a preset name or a file path, got 3"]],
  ["lora-targets.yaml", ":4:14 train.lora.targets:", ['expected one of "attention", "extended" or a list']],
  // Rules that span fields (src/config/schema/rules.ts) and single-field rules the workers relied on.
  [
    "rule-timestep-fraction.yaml",
    ":7:24 train.rpo.timestep_fraction:",
    ["trains no transition", "with 4 steps, got 0.3"],
  ],
  ["rule-eta-zero.yaml", ":5:10 train.sampler.eta:", ["must be > 0 for training", "got 0"]],
  ["rule-edit-t2i-model.yaml", ":7:13 train.model.family:", ['judge.task is "edit"', 'got "flux"']],
  ["rule-nnodes-no-rdzv.yaml", ":5:5 train.distributed.rdzv_endpoint:", ["required when nnodes > 1"]],
  ["lora-dropout.yaml", ":5:14 train.lora.dropout:", ["never applies", "eval mode", "got 0.1"]],
];

describe("malformed config files", () => {
  it.each(corpus)("%s", async (file, where, says, shown) => {
    const error = await failure({ file: path.join(bad, file) });
    expect(error.message.startsWith(`${rel(bad, shown ?? file)}${where}`), error.message).toBe(true);
    for (const fragment of says) expect(error.message).toContain(fragment);
    expect(error.exitCode).toBe(2);
  });

  it("names the file, line and column in the error's location as well", async () => {
    const error = await failure({ file: path.join(bad, "out-of-range.yaml") });
    expect(error.location).toEqual({ file: path.join(bad, "out-of-range.yaml"), line: 9, column: 17 });
    expect(error.path).toBe("train.rpo.clip_range");
    expect(error.hint).toContain("PPO clip");
  });

  it("reports every problem of a file, the first in the message", async () => {
    const error = await failure({ file: path.join(bad, "many-problems.yaml") });
    expect(error).toBeInstanceOf(ConfigValidationError);
    const problems = (error as ConfigValidationError).problems;
    expect(problems.map((p) => p.path)).toEqual(["run.seed", "judge.order", "judge.reask"]);
    expect(problems.map((p) => p.location?.line)).toEqual([2, 4, 5]);
    expect(error.message).toContain("(and 2 more)");
  });

  it("never echoes a key written into a config", async () => {
    for (const file of ["api-key-literal.yaml", "api-key-env-value.yaml"]) {
      const error = await failure({ file: path.join(bad, file) });
      expect(`${error.message} ${error.hint}`).not.toContain("abcdefghij");
      expect(error.hint).toContain("api_key_env");
    }
  });

  it("says which file is missing", async () => {
    const error = await failure({ file: "nope/absent.yaml" });
    expect(error.message).toBe("nope/absent.yaml: no such file");
  });
});

describe("--set overrides", () => {
  const cases: [flag: string, says: string][] = [
    ["train.optim.lrr=1", '--set train.optim.lrr=1: train.optim.lrr: unknown key "lrr" (did you mean "lr"?)'],
    [
      "train.rpo.clip_range=abc",
      '--set train.rpo.clip_range=abc: train.rpo.clip_range: expected a number, got "abc"',
    ],
    [
      "train.rpo.clip_range=1.5",
      "--set train.rpo.clip_range=1.5: train.rpo.clip_range: expected a number < 1, got 1.5",
    ],
    ["train.optim.lr", "--set train.optim.lr: expected KEY=VALUE"],
    [
      "train.optim.lr.x=1",
      '--set train.optim.lr.x=1: train.optim.lr: is a number, not a section: it has no key "x"',
    ],
    ["train.optim.betas=[0.9,", "--set train.optim.betas=[0.9,: cannot parse the value as YAML"],
    [
      "train.rpo={clip: 1}",
      '--set train.rpo={clip: 1}: train.rpo.clip: unknown key "clip" (did you mean "clip_range"?)',
    ],
    [
      "judge.order=swp",
      '--set judge.order=swp: judge.order: expected one of "single", "swap", "random", got "swp"',
    ],
  ];
  it.each(cases)("%s", async (flag, says) => {
    const error = await failure({ preset: "tiny-cpu", set: [flag] });
    expect(error.message).toContain(says);
  });

  it("redacts a secret given on the command line", async () => {
    const error = await failure({ set: ["vlm.api_key=sk-live-0123456789abcdef"] });
    expect(error.message).toContain("--set vlm.api_key=<redacted>");
    expect(error.message).not.toContain("0123456789abcdef");
  });

  it("parses values as YAML: numbers, null, flow lists and mappings", async () => {
    const { config } = await loadConfig({
      cwd: root,
      set: [
        "train.optim.lr=1e-4",
        "train.optim.betas=[0.8, 0.95]",
        "judge.cache_dir=",
        "vlm.extra_body={top_k: 20}",
        "train.sampler.same_init_noise=false",
      ],
    });
    expect(config.train?.optim.lr).toBe(1e-4);
    expect(config.train?.optim.betas).toEqual([0.8, 0.95]);
    expect(config.judge.cache_dir).toBeNull();
    expect(config.vlm?.extra_body).toEqual({ top_k: 20 });
    expect(config.train?.sampler.same_init_noise).toBe(false);
  });
});

describe("composition", () => {
  it("applies preset < extends chain < file < --set, merging mappings and replacing scalars", async () => {
    const child = path.join(good, "nested/child.yaml");
    const preset = await loadConfig({ cwd: root, preset: "flux-rpo-8gpu" });
    const file = await loadConfig({ cwd: root, file: child });
    const flagged = await loadConfig({
      cwd: root,
      file: child,
      set: ["train.optim.lr=1e-5", "train.max_steps=7"],
    });
    expect(preset.config.train?.optim.lr).toBe(5e-5);
    expect(file.config.train?.optim.lr).toBe(2e-5); // base.yaml
    expect(file.config.train?.max_steps).toBe(60); // child.yaml over base.yaml's 120
    expect(flagged.config.train?.optim.lr).toBe(1e-5);
    expect(flagged.config.train?.max_steps).toBe(7);
    // untouched preset values survive the merge
    expect(flagged.config.train?.lora.rank).toBe(16);
    expect(flagged.config.train?.sampler.seed).toBe(1223627);
    expect(flagged.sources).toEqual([
      path.join(root, "configs/arr-qwen3vl-8b-t2i.yaml"),
      path.join(root, "configs/flux-rpo-8gpu.yaml"),
      path.join(good, "base.yaml"),
      child,
      "--set train.optim.lr=1e-5",
      "--set train.max_steps=7",
    ]);
    expect(flagged.baseDir).toBe(path.join(good, "nested"));
  });

  it("puts a --preset under the file", async () => {
    const { config } = await loadConfig({
      cwd: root,
      preset: "qwen-edit-rpo-8gpu",
      file: path.join(good, "standalone.yaml"),
    });
    expect(config.judge.order).toBe("random"); // file
    expect(config.train?.optim.lr).toBe(1e-5); // preset
    expect(config.vlm?.base_url).toEqual(["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"]);
    expect(config.vlm?.image.source_size).toEqual([512, 512]); // preset's nested value kept
  });

  it("resolves relative paths against the file that set them", async () => {
    const { config } = await loadConfig({ cwd: root, file: path.join(good, "nested/child.yaml") });
    expect(config.train?.dataset.path).toBe(path.join(good, "prompts.txt"));
    expect(config.judge.rubric_file).toBe(path.join(good, "rubric.yaml"));
    expect(config.run.output_dir).toBe(path.join(good, "out"));
    expect(config.train?.model.path).toBe(path.join(good, "local-model")); // exists, so it is a path
    expect(config.judge.cache_dir).toBe(path.join(root, ".arr-cache")); // a default: the cwd
  });

  it("keeps hub ids and 'tiny' as they are, and resolves --set paths against the cwd", async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), "arr-config-"));
    const flux = await loadConfig({
      cwd,
      preset: "flux-rpo-8gpu",
      set: ["train.dataset.path=my/prompts.txt"],
    });
    expect(flux.config.train?.model.path).toBe("black-forest-labs/FLUX.1-dev");
    expect(flux.config.train?.dataset.path).toBe(path.join(cwd, "my/prompts.txt"));
    const tiny = await loadConfig({ cwd });
    expect(tiny.config.train?.model.path).toBe("tiny");
    expect(tiny.config.train?.dataset.path).toBe(path.join(root, "configs/data/tiny-prompts.txt"));
  });

  it("uses tiny-cpu when neither a file nor a preset is given, and no preset under a bare file", async () => {
    const { config, sources } = await loadConfig({ cwd: root });
    expect(sources).toEqual([path.join(root, "configs/tiny-cpu.yaml")]);
    expect(config.vlm?.provider).toBe("referee");
    const dir = mkdtempSync(path.join(tmpdir(), "arr-config-"));
    const file = path.join(dir, "empty.yaml");
    writeFileSync(file, "# nothing but defaults\n");
    const bare = await loadConfig({ file });
    expect(bare.config.train).toBeUndefined();
    expect(bare.config.judge.order).toBe("swap");
  });

  it("points at the file that set the bad value, not the one that extends it", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "arr-config-"));
    writeFileSync(path.join(dir, "parent.yaml"), "judge:\n  order: sideways\n");
    writeFileSync(path.join(dir, "child.yaml"), "extends: ./parent.yaml\njudge:\n  reask: 1\n");
    const error = await failure({ file: path.join(dir, "child.yaml"), cwd: dir });
    expect(error.message).toMatch(/^parent\.yaml:2:10 judge\.order: expected one of/);
  });
});

describe("suggestions and secrets", () => {
  it("measures edits and only suggests plausible typos", () => {
    expect(editDistance("kitten", "sitting")).toBe(3);
    expect(closest("ordre", ["order", "task"])).toBe("order");
    expect(closest("zzzzzz", ["order", "task"])).toBeUndefined();
  });
  it("recognises credentials but not names and paths", () => {
    expect(looksLikeSecret("sk-proj-abc")).toBe(true);
    expect(looksLikeSecret("hf_abcdefgh")).toBe(true);
    expect(looksLikeSecret("Qwen/Qwen3-VL-8B-Instruct")).toBe(false);
    expect(looksLikeSecret("OPENAI_API_KEY")).toBe(false);
  });
});

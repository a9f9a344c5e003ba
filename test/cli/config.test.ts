import path from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import type { Config } from "../../src/config/schema.js";
import { runArr } from "../support/cli.js";

const root = path.resolve(import.meta.dirname, "../..");
const tsx = path.join(root, "node_modules/.bin/tsx");
const good = "test/fixtures/config/good";
const bad = "test/fixtures/config/bad";

const arr = (...args: string[]) => runArr(args, { cwd: root });

describe("arr config (subprocess)", () => {
  it("show --preset flux-rpo-8gpu --json prints the full config, as the SDK resolves it", async () => {
    const result = await execa(
      tsx,
      ["src/cli/main.ts", "config", "show", "--preset", "flux-rpo-8gpu", "--json"],
      { cwd: root, reject: false },
    );
    expect(result.exitCode, result.stderr).toBe(0);
    const config = JSON.parse(result.stdout) as Config;
    // The preset's paper values are checked in test/config/presets.test.ts; here: the binary prints
    // that same config, every default filled in, paths resolved against its working directory.
    expect(config).toEqual(
      JSON.parse((await arr("config", "show", "--preset", "flux-rpo-8gpu", "--json")).out),
    );
    expect(config.train?.optim.lr).toBe(5e-5);
    expect(config.judge.cache_dir).toBe(path.join(root, ".arr-cache"));
    expect(config.vlm?.timeout_ms).toBe(120_000);
  });

  it("validate exits 2 when any file is invalid, with one line per file", async () => {
    const result = await execa(
      process.execPath,
      [
        "--import",
        "tsx",
        "src/cli/main.ts",
        "config",
        "validate",
        `${good}/base.yaml`,
        `${bad}/out-of-range.yaml`,
        `${bad}/syntax-error.yaml`,
      ],
      { cwd: root, reject: false },
    );
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe(`ok ${good}/base.yaml`);
    expect(result.stderr.split("\n")).toEqual([
      `invalid ${bad}/out-of-range.yaml:9:17 train.rpo.clip_range: expected a number < 1, got 2`,
      `invalid ${bad}/syntax-error.yaml:4:10 YAML syntax error: this [ is never closed (Flow sequence in block collection must be sufficiently indented and end with a ])`,
    ]);
  });
});

describe("arr config (in process)", () => {
  it("validate exits 0 when every file is valid", async () => {
    const result = await arr("config", "validate", `${good}/base.yaml`, `${good}/nested/child.yaml`);
    expect(result).toMatchObject({ code: 0, err: "" });
    expect(result.out.trim().split("\n")).toHaveLength(2);
  });

  it("show: --set over the file over the preset", async () => {
    const preset = JSON.parse(
      (await arr("config", "show", "--preset", "flux-rpo-8gpu", "--json")).out,
    ) as Config;
    const file = JSON.parse((await arr("config", "show", `${good}/base.yaml`, "--json")).out) as Config;
    const flagged = await arr(
      "config",
      "show",
      "--config",
      `${good}/base.yaml`,
      "--set",
      "train.optim.lr=3e-6",
      "--set",
      "train.lora.rank=8",
      "--json",
    );
    const set = JSON.parse(flagged.out) as Config;
    expect([preset.train?.optim.lr, file.train?.optim.lr, set.train?.optim.lr]).toEqual([5e-5, 2e-5, 3e-6]);
    expect([preset.train?.lora.rank, file.train?.lora.rank, set.train?.lora.rank]).toEqual([16, 16, 8]);
  });

  it("show prints YAML by default and the tiny-cpu default without arguments", async () => {
    const result = await arr("config", "show");
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/^ {2}provider: referee$/m);
    expect(result.out).toMatch(/^ {4}path: tiny$/m);
  });

  it("show --explain prints each field's value next to its description", async () => {
    const result = await arr("config", "show", "--explain", "--set", "judge.concurrency=3");
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/^judge\.concurrency: 3 {2}# comparisons in flight at once/m);
    expect(result.out).toMatch(/^train\.lora\.dropout: 0 {2}# LoRA dropout probability; only 0 is accepted/m);
  });

  it("config errors go to stderr with a hint and exit 2; nothing on stdout", async () => {
    const result = await arr("config", "show", "--preset", "tiny-cpu", "--set", "train.optim.lerning_rate=1");
    expect(result.code).toBe(2);
    expect(result.out).toBe("");
    expect(result.err).toContain(
      'arr: --set train.optim.lerning_rate=1: train.optim.lerning_rate: unknown key "lerning_rate" (did you mean "lr"?)',
    );
    expect(result.err).toContain("hint: valid keys of train.optim: lr,");
  });

  it("usage errors exit 2", async () => {
    expect((await arr("config", "show", `${good}/base.yaml`, "--config", `${good}/base.yaml`)).code).toBe(2);
    expect((await arr("config", "show", "--no-such-flag")).code).toBe(2);
    expect((await arr("config", "validate")).code).toBe(2);
    expect((await arr("config", "show", "--preset", "nope")).code).toBe(2);
  });

  it("presets lists one line per preset", async () => {
    const result = await arr("config", "presets");
    const lines = result.out.trim().split("\n");
    expect(lines).toHaveLength(5);
    expect(lines.find((l) => l.startsWith("tiny-cpu"))).toMatch(/^tiny-cpu\s+Offline demo on 2 CPU cores/);
  });
});

/**
 * loadConfig(): composes presets, files and `--set` overrides into one validated Config.
 *
 * Order of application (later wins; mappings merge key by key, lists and scalars replace):
 *   1. `--preset NAME` (or the embedded default `tiny-cpu` when neither a file nor a preset is given)
 *   2. the file's `extends:` chain, depth first, each file after what it extends
 *   3. the file itself
 *   4. each `--set a.b.c=value`, in order
 * Every value remembers the layer that set it, so a schema error names that file's line and column
 * (or the `--set` flag), and relative paths resolve against that file's directory.
 */
import { existsSync, realpathSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { ConfigError } from "../errors.js";
import { type ConfigPath, describeIssue } from "./issues.js";
import {
  ConfigValidationError,
  displayPath,
  isPlain,
  type Layer,
  locate,
  type Plain,
  parseSetFlag,
  problemError,
  readLayer,
  toProblem,
  where,
} from "./layer.js";
import { moveKeys } from "./moved-keys.js";
import { DEFAULT_PRESET, isPresetName, presetFile } from "./presets.js";
import { type Config, ConfigSchema } from "./schema.js";

export type { ConfigProblem } from "./layer.js";
export { ConfigValidationError, displayPath };

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** A config file (YAML or JSON); may `extends:` presets or other files. */
  file?: string;
  /** A preset name applied under the file (`arr config presets` lists them). */
  preset?: string;
  /** `a.b.c=value` overrides; the value is YAML (`1e-5`, `null`, `[1, 2]`, `{k: v}`). */
  set?: readonly string[];
  /** Directory for relative `file`, `--set` paths and defaults (default: process.cwd()). */
  cwd?: string;
  /** Where presets live (default: this package's `configs/`). */
  presetsDir?: string;
}

/** The result of {@link loadConfig}. */
export interface LoadedConfig {
  /** Validated config, every default filled in, path fields absolute. */
  config: Config;
  /** What was applied, in order: absolute file paths, then `--set k=v` flags (secrets redacted). */
  sources: string[];
  /** Directory of the user's file, or the cwd when only a preset or the default was used. */
  baseDir: string;
}

/** Path fields resolved against the directory of the layer that set them. */
const PATH_FIELDS: ConfigPath[] = [
  ["judge", "rubric_file"],
  ["judge", "audit", "rubric_file"],
  ["judge", "cache_dir"],
  ["train", "dataset", "path"],
  ["run", "output_dir"],
  ["train", "lora", "init_from"],
];
/** `train.model.path` may be a hub id or `tiny`: only an existing relative directory is resolved. */
const MODEL_PATH: ConfigPath = ["train", "model", "path"];

/** The layers of `file` (its extends chain first); `stack` holds the real paths being expanded. */
function fileLayers(
  file: string,
  options: Required<Pick<LoadConfigOptions, "cwd">> & { presetsDir?: string },
  stack: string[],
): Layer[] {
  const layer = readLayer(file, options.cwd);
  const real = realpathSync(file);
  const refs = layer.data.extends;
  delete layer.data.extends;
  if (refs === undefined || refs === null) return [layer];
  const list = Array.isArray(refs) ? refs : [refs];
  const layers: Layer[] = [];
  list.forEach((ref, index) => {
    const at: ConfigPath = Array.isArray(refs) ? ["extends", index] : ["extends"];
    if (typeof ref !== "string" || ref.length === 0) {
      throw problemError(
        layer,
        { path: at, text: `expected a preset name or a file path, got ${JSON.stringify(ref)}` },
        options.cwd,
      );
    }
    let target: string;
    if (isPresetName(ref)) {
      try {
        target = presetFile(ref, options.presetsDir);
      } catch (error) {
        const e = error as ConfigError;
        throw new ConfigError(`${where(locate(layer, at), layer, options.cwd)} extends: ${e.message}`, {
          ...(e.hint ? { hint: e.hint } : {}),
          location: locate(layer, at) ?? { file },
          path: "extends",
        });
      }
    } else {
      target = path.resolve(layer.dir, ref.startsWith("~/") ? path.join(homedir(), ref.slice(2)) : ref);
      if (!existsSync(target)) {
        throw problemError(
          layer,
          {
            path: at,
            text: `no such file ${JSON.stringify(ref)} (looked for ${target})`,
            hint: "a relative extends path is resolved against the directory of the file that contains it",
          },
          options.cwd,
        );
      }
    }
    const targetReal = realpathSync(target);
    const chain = [...stack, real];
    if (chain.includes(targetReal)) {
      const cycle = [...chain.slice(chain.indexOf(targetReal)), targetReal].map((f) =>
        displayPath(f, options.cwd),
      );
      throw problemError(
        layer,
        {
          path: at,
          text: `cycle: ${cycle.join(" -> ")}`,
          hint: "remove one of the extends so that the chain ends",
        },
        options.cwd,
      );
    }
    layers.push(...fileLayers(target, options, chain));
  });
  layers.push(layer);
  return layers;
}

const originKey = (p: ConfigPath) => p.map(String).join("\u0000");

/** Deep-merges `source` into `target`, recording which layer set every key. */
function mergeInto(
  target: Plain,
  source: Plain,
  at: ConfigPath,
  layer: Layer,
  origins: Map<string, Layer>,
): void {
  for (const [key, value] of Object.entries(source)) {
    const here = [...at, key];
    origins.set(originKey(here), layer);
    if (isPlain(value)) {
      if (!isPlain(target[key])) {
        for (const k of [...origins.keys()]) if (k.startsWith(`${originKey(here)}\u0000`)) origins.delete(k);
        target[key] = {};
      }
      mergeInto(target[key] as Plain, value, here, layer, origins);
    } else {
      for (const k of [...origins.keys()]) if (k.startsWith(`${originKey(here)}\u0000`)) origins.delete(k);
      target[key] = value;
    }
  }
}

function originOf(p: ConfigPath, origins: Map<string, Layer>): Layer | undefined {
  for (let n = p.length; n > 0; n--) {
    const layer = origins.get(originKey(p.slice(0, n)));
    if (layer) return layer;
  }
  return undefined;
}

function valueAt(data: unknown, p: ConfigPath): unknown {
  let current = data;
  for (const segment of p) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string, unknown>)[String(segment)];
  }
  return current;
}

function expandHome(p: string): string {
  return p === "~" || p.startsWith("~/") ? path.join(homedir(), p.slice(1)) : p;
}

/** Resolves the path fields in place against the directory of the layer that set each. */
function resolvePaths(config: Config, origins: Map<string, Layer>, cwd: string): void {
  const setAt = (p: ConfigPath, resolver: (value: string, dir: string) => string) => {
    const parent = valueAt(config, p.slice(0, -1));
    const last = String(p[p.length - 1]);
    if (!isPlain(parent) || typeof parent[last] !== "string") return;
    const layer = origins.get(originKey(p));
    parent[last] = resolver(parent[last], layer?.dir ?? cwd);
  };
  for (const field of PATH_FIELDS) {
    setAt(field, (value, dir) => path.resolve(dir, expandHome(value)));
  }
  setAt(MODEL_PATH, (value, dir) => {
    const expanded = expandHome(value);
    if (path.isAbsolute(expanded)) return expanded;
    const candidate = path.resolve(dir, expanded);
    // Only something that exists is a local path; otherwise it is a hub id (org/name) or "tiny".
    return existsSync(candidate) ? candidate : value;
  });
}

/**
 * Loads, composes and validates a config. Throws {@link ConfigError} (exit code 2) naming the file,
 * line, column and field of the first problem; {@link ConfigValidationError} carries all of them.
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const ctx = { cwd, ...(options.presetsDir ? { presetsDir: options.presetsDir } : {}) };
  const layers: Layer[] = [];
  const preset = options.preset ?? (options.file === undefined ? DEFAULT_PRESET : undefined);
  if (preset !== undefined) {
    const file = presetFile(preset, options.presetsDir);
    layers.push(...fileLayers(file, ctx, []));
  }
  let baseDir = cwd;
  if (options.file !== undefined) {
    const file = path.resolve(cwd, expandHome(options.file));
    baseDir = path.dirname(file);
    layers.push(...fileLayers(file, ctx, []));
  }
  for (const flag of options.set ?? []) layers.push(parseSetFlag(flag, cwd));

  const merged: Plain = {};
  const origins = new Map<string, Layer>();
  for (const layer of layers) mergeInto(merged, layer.data, [], layer, origins);
  for (const [from, to] of moveKeys(merged)) {
    const layer = origins.get(originKey(from.split(".")));
    if (layer) origins.set(originKey(to.split(".")), layer);
  }

  const result = ConfigSchema.safeParse(merged);
  if (!result.success) {
    const problems = result.error.issues
      .flatMap((issue) => describeIssue(issue, (p) => valueAt(merged, p)))
      .map((problem) => toProblem(originOf(problem.path, origins), problem, cwd));
    throw new ConfigValidationError(problems);
  }
  const config = result.data;
  resolvePaths(config, origins, cwd);
  const sources = layers.map((layer) => layer.flag ?? layer.file ?? "");
  return { config, sources, baseDir };
}

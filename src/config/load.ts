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
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { type Document, isMap, isScalar, isSeq, LineCounter, type Node, parse, parseDocument } from "yaml";
import { ConfigError, type SourceLocation } from "../errors.js";
import {
  type ConfigPath,
  type ConfigProblemText,
  describeIssue,
  dotted,
  schemaAt,
  unknownKeyProblem,
} from "./issues.js";
import { DEFAULT_PRESET, isPresetName, presetFile } from "./presets.js";
import { type Config, ConfigSchema } from "./schema.js";
import { isSecretKey, looksLikeSecret } from "./suggest.js";

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

/** One located problem (a file may have several; the error's message is the first). */
export interface ConfigProblem {
  /** `file:line:col field.path: expected X, got Y`. */
  message: string;
  /** Dotted field path. */
  path: string;
  location?: SourceLocation;
  hint?: string;
}

/** Schema validation failed; `problems` lists every issue found, in order. */
export class ConfigValidationError extends ConfigError {
  override name = "ConfigValidationError";
  readonly problems: ConfigProblem[];

  constructor(problems: ConfigProblem[]) {
    const [first] = problems;
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : "";
    super(`${first?.message ?? "invalid config"}${more}`, {
      ...(first?.hint ? { hint: first.hint } : {}),
      ...(first?.location ? { location: first.location } : {}),
      ...(first ? { path: first.path } : {}),
    });
    this.problems = problems;
  }
}

/** One source of values: a YAML file or a `--set` flag. */
interface Layer {
  /** Absolute file, or undefined for a flag. */
  file?: string;
  /** `--set k=v` as shown in messages (secrets redacted). */
  flag?: string;
  /** Directory relative paths set here resolve against. */
  dir: string;
  doc?: Document;
  lineCounter?: LineCounter;
  data: Record<string, unknown>;
}

type Plain = Record<string, unknown>;

const isPlain = (v: unknown): v is Plain => typeof v === "object" && v !== null && !Array.isArray(v);

/** Path fields resolved against the directory of the layer that set them. */
const PATH_FIELDS: ConfigPath[] = [
  ["judge", "rubric_file"],
  ["judge", "cache_dir"],
  ["train", "dataset", "path"],
  ["run", "output_dir"],
  ["train", "lora", "init_from"],
];
/** `train.model.path` may be a hub id or `tiny`: only an existing relative directory is resolved. */
const MODEL_PATH: ConfigPath = ["train", "model", "path"];

/** Shows a file as the user would type it: relative to cwd when below it. */
export function displayPath(file: string, cwd: string = process.cwd()): string {
  const rel = path.relative(cwd, file);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : file;
}

function lineCol(layer: Layer, offset: number): { line: number; column: number } {
  const pos = layer.lineCounter?.linePos(offset) ?? { line: 1, col: 1 };
  return { line: pos.line, column: pos.col };
}

/** Where a path sits in a layer's document: the value (or the key), else the deepest existing parent. */
function locate(layer: Layer, target: ConfigPath, atKey = false): SourceLocation | undefined {
  if (!layer.file) return undefined;
  let node: Node | null | undefined = layer.doc?.contents as Node | null | undefined;
  let range = node?.range;
  for (let i = 0; i < target.length && node; i++) {
    const segment = target[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
      if (!pair) break;
      const keyRange = isScalar(pair.key) ? pair.key.range : undefined;
      if (i === target.length - 1 && atKey && keyRange)
        return { file: layer.file, ...lineCol(layer, keyRange[0]) };
      node = pair.value as Node | null;
      range = node?.range ?? keyRange ?? range;
    } else if (isSeq(node) && typeof segment === "number") {
      node = node.items[segment] as Node | undefined;
      range = node?.range ?? range;
    } else {
      break;
    }
  }
  return range ? { file: layer.file, ...lineCol(layer, range[0]) } : { file: layer.file };
}

function where(location: SourceLocation | undefined, layer: Layer | undefined, cwd: string): string {
  if (layer?.flag) return `${layer.flag}:`;
  if (!location) return "";
  const file = displayPath(location.file, cwd);
  return location.line ? `${file}:${location.line}:${location.column ?? 1}` : `${file}:`;
}

function problemError(
  layer: Layer | undefined,
  problem: ConfigProblemText,
  cwd: string,
  location = layer ? locate(layer, problem.path, problem.atKey) : undefined,
): ConfigValidationError {
  return new ConfigValidationError([toProblem(layer, problem, cwd, location)]);
}

function toProblem(
  layer: Layer | undefined,
  problem: ConfigProblemText,
  cwd: string,
  location = layer ? locate(layer, problem.path, problem.atKey) : undefined,
): ConfigProblem {
  const prefix = where(location, layer, cwd);
  const lookup = problem.hint || problem.atKey ? undefined : schemaAt(problem.path);
  const described = lookup?.ok ? lookup.schema.description : undefined;
  const hint = problem.hint ?? (described ? `${dotted(problem.path)}: ${described}` : undefined);
  return {
    message: `${prefix ? `${prefix} ` : ""}${dotted(problem.path)}: ${problem.text}`,
    path: dotted(problem.path),
    ...(location ? { location } : {}),
    ...(layer?.flag ? { location: { file: layer.flag } } : {}),
    ...(hint ? { hint } : {}),
  };
}

/** The offending source line with a caret under the column. */
function snippet(text: string, line: number, column: number): string {
  const source = text.split(/\r?\n/)[line - 1] ?? "";
  const gutter = `${line} | `;
  return `\n  ${gutter}${source}\n  ${" ".repeat(gutter.length + Math.max(0, column - 1))}^`;
}

function readLayer(file: string, cwd: string): Layer {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new ConfigError(
      `${displayPath(file, cwd)}: ${code === "ENOENT" ? "no such file" : `cannot read (${code})`}`,
      {
        hint: "check the path; relative paths are resolved against the current directory",
        location: { file },
        cause,
      },
    );
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const layer: Layer = { file, dir: path.dirname(file), doc, lineCounter, data: {} };
  const [error] = doc.errors;
  if (error) {
    const { line, column } = lineCol(layer, error.pos[0]);
    const shown = `${displayPath(file, cwd)}:${line}:${column}`;
    const message =
      error.code === "DUPLICATE_KEY"
        ? `duplicate key ${JSON.stringify(text.slice(error.pos[0]).split(/[:\n]/)[0]?.trim() ?? "")}`
        : `YAML syntax error: ${error.message.split("\n")[0]?.replace(/ at line \d+, column \d+:?$/, "")}`;
    throw new ConfigError(`${shown} ${message}${snippet(text, line, column)}`, {
      hint:
        error.code === "DUPLICATE_KEY"
          ? "a key may appear only once per mapping; keep one"
          : "fix the YAML at the caret",
      location: { file, line, column },
    });
  }
  const data: unknown = doc.toJS({ maxAliasCount: 1000 });
  if (data === null || data === undefined) return layer;
  if (!isPlain(data)) {
    throw problemError(
      layer,
      {
        path: [],
        text: `expected a mapping of sections (run, vlm, judge, induction, train), got ${Array.isArray(data) ? "a list" : JSON.stringify(data)}`,
      },
      cwd,
    );
  }
  layer.data = data;
  return layer;
}

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

/** Parses one `--set key=value` into a layer; the path is checked against the schema first. */
export function parseSetFlag(flag: string, cwd: string = process.cwd()): Layer {
  const eq = flag.indexOf("=");
  const key = eq < 0 ? flag : flag.slice(0, eq);
  const raw = eq < 0 ? "" : flag.slice(eq + 1);
  const keyPath = key.split(".");
  const secret = keyPath.some(isSecretKey) || looksLikeSecret(raw);
  const shown = `--set ${key}${eq < 0 ? "" : `=${secret ? "<redacted>" : raw}`}`;
  const layer: Layer = { flag: shown, dir: cwd, data: {} };
  if (eq < 0 || !/^[A-Za-z_][\w-]*(\.[\w-]+)*$/.test(key)) {
    throw new ConfigError(`${shown}: expected KEY=VALUE with a dotted key, e.g. --set train.optim.lr=1e-5`, {
      hint: "the value is YAML: numbers, true/false, null, [lists] and {mappings} are understood",
      location: { file: shown },
    });
  }
  const lookup = schemaAt(keyPath);
  if (!lookup.ok) {
    if (lookup.kind === "object")
      throw problemError(
        layer,
        unknownKeyProblem(keyPath.slice(0, lookup.at), keyPath[lookup.at] ?? ""),
        cwd,
      );
    throw problemError(
      layer,
      {
        path: keyPath.slice(0, lookup.at),
        text: `is ${lookup.kind === "array" || lookup.kind === "tuple" ? "a list" : `a ${lookup.kind}`}, not a section: it has no key "${keyPath[lookup.at]}"`,
        hint: `set the whole value, e.g. --set ${keyPath.slice(0, lookup.at).join(".")}=[...]`,
      },
      cwd,
    );
  }
  let value: unknown;
  try {
    value = parse(raw, { uniqueKeys: true });
  } catch (cause) {
    throw new ConfigError(
      `${shown}: cannot parse the value as YAML: ${String((cause as Error).message)
        .split("\n")[0]
        ?.replace(/ at line \d+, column \d+:?$/, "")}`,
      {
        hint: "quote the whole flag in the shell, e.g. --set 'train.optim.betas=[0.9, 0.99]'",
        location: { file: shown },
        cause,
      },
    );
  }
  // An empty value means null, which also clears a nullable field.
  let data: unknown = value === undefined ? null : value;
  for (const segment of [...keyPath].reverse()) data = { [segment]: data };
  layer.data = data as Plain;
  return layer;
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

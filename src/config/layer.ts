/**
 * Layers of a config: one per YAML file or `--set` flag, each knowing where its values sit in its
 * source (file, line, column), so a problem found after merging can be reported where it was written.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { type Document, isMap, isScalar, isSeq, LineCounter, type Node, parse, parseDocument } from "yaml";
import { ConfigError, type SourceLocation } from "../errors.js";
import { type ConfigPath, type ConfigProblemText, dotted, schemaAt, unknownKeyProblem } from "./issues.js";
import { isSecretKey, looksLikeSecret } from "./suggest.js";

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
export interface Layer {
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

export type Plain = Record<string, unknown>;

export const isPlain = (v: unknown): v is Plain => typeof v === "object" && v !== null && !Array.isArray(v);

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
export function locate(layer: Layer, target: ConfigPath, atKey = false): SourceLocation | undefined {
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

export function where(location: SourceLocation | undefined, layer: Layer | undefined, cwd: string): string {
  if (layer?.flag) return `${layer.flag}:`;
  if (!location) return "";
  const file = displayPath(location.file, cwd);
  return location.line ? `${file}:${location.line}:${location.column ?? 1}` : `${file}:`;
}

export function problemError(
  layer: Layer | undefined,
  problem: ConfigProblemText,
  cwd: string,
): ConfigValidationError {
  return new ConfigValidationError([toProblem(layer, problem, cwd)]);
}

export function toProblem(
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

/** Offset of the last `open` bracket before `end` that has no matching close (quotes are not parsed). */
function unclosedBracket(text: string, end: number, open: "[" | "{"): number {
  const close = open === "[" ? "]" : "}";
  let depth = 0;
  for (let i = Math.min(end, text.length) - 1; i >= 0; i--) {
    if (text[i] === close) depth++;
    else if (text[i] === open) {
      if (depth === 0) return i;
      depth--;
    }
  }
  return -1;
}

export function readLayer(file: string, cwd: string): Layer {
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
    // The parser notices an unclosed [ or { only where it gets stuck, often a line later: point at
    // the bracket that was opened instead.
    const closer = /end with a ([\]}])/.exec(error.message)?.[1];
    const opener = closer ? unclosedBracket(text, error.pos[0], closer === "]" ? "[" : "{") : -1;
    const offset = opener >= 0 ? opener : error.pos[0];
    const { line, column } = lineCol(layer, offset);
    const shown = `${displayPath(file, cwd)}:${line}:${column}`;
    const reason = error.message.split("\n")[0]?.replace(/ at line \d+, column \d+:?$/, "");
    const message =
      error.code === "DUPLICATE_KEY"
        ? `duplicate key ${JSON.stringify(text.slice(error.pos[0]).split(/[:\n]/)[0]?.trim() ?? "")}`
        : opener >= 0
          ? `YAML syntax error: this ${text[opener]} is never closed (${reason})`
          : `YAML syntax error: ${reason}`;
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

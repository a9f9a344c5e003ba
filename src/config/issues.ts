/**
 * Turns zod issues into config messages of the form `field.path: expected X, got Y`, and answers
 * questions about the schema's shape (which keys exist where) for "did you mean" (pure functions).
 */
import type { z } from "zod";
import { ConfigSchema } from "./schema.js";
import { editDistance, isSecretKey, showValue, suggestKey } from "./suggest.js";

export type ConfigPath = (string | number)[];

/** One problem in a config, before it is tied to a file location. */
export interface ConfigProblemText {
  /** Path of the value concerned (for an unknown key: the key itself). */
  path: ConfigPath;
  /** `expected ..., got ...` or `unknown key ...`. */
  text: string;
  /** How to fix it, when there is more to say than the text. */
  hint?: string;
  /** True when `path` names a key (locate the key, not its value). */
  atKey?: boolean;
}

// zod 4 keeps the definition on `_zod.def`; only the fields used here are typed.
interface SchemaDef {
  type: string;
  innerType?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  valueType?: z.ZodType;
  options?: z.ZodType[];
}

function defOf(schema: z.ZodType): SchemaDef {
  return (schema as unknown as { _zod: { def: SchemaDef } })._zod.def;
}

/** Strips default/optional/nullable wrappers. */
export function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  for (;;) {
    const def = defOf(current);
    if (
      (def.type === "default" ||
        def.type === "optional" ||
        def.type === "nullable" ||
        def.type === "prefault") &&
      def.innerType
    ) {
      current = def.innerType;
    } else {
      return current;
    }
  }
}

/** The schema kind at a node: "object", "record", "array", "tuple", "union", "number", ... */
export function kindOf(schema: z.ZodType): string {
  return defOf(unwrap(schema)).type;
}

/** Keys of an object schema, or [] for anything else. */
export function keysOf(schema: z.ZodType): string[] {
  const def = defOf(unwrap(schema));
  return def.type === "object" && def.shape ? Object.keys(def.shape) : [];
}

/** Keys an object schema requires (no default, not optional). */
export function requiredKeysOf(schema: z.ZodType): string[] {
  const def = defOf(unwrap(schema));
  if (def.type !== "object" || !def.shape) return [];
  return Object.entries(def.shape)
    .filter(([, child]) => {
      const t = defOf(child).type;
      return t !== "default" && t !== "optional" && t !== "prefault";
    })
    .map(([key]) => key);
}

export type SchemaLookup =
  | { ok: true; schema: z.ZodType /** a record below: any key is accepted from here on */; open: boolean }
  | { ok: false; at: number; known: string[]; kind: string };

/** Walks the schema along a path of object keys; `at` is the index of the first segment that fails. */
export function schemaAt(path: readonly (string | number)[], root: z.ZodType = ConfigSchema): SchemaLookup {
  let current = root;
  for (let i = 0; i < path.length; i++) {
    const def = defOf(unwrap(current));
    if (def.type === "record") return { ok: true, schema: def.valueType ?? current, open: true };
    const shape = def.type === "object" ? def.shape : undefined;
    const child = shape?.[String(path[i])];
    if (!shape || !child) return { ok: false, at: i, known: shape ? Object.keys(shape) : [], kind: def.type };
    current = child;
  }
  return { ok: true, schema: current, open: false };
}

/** Every object-key path in the schema, for "this key belongs under X" hints. */
export function allKeyPaths(root: z.ZodType = ConfigSchema, prefix: string[] = []): string[][] {
  const out: string[][] = [];
  for (const key of keysOf(root)) {
    const child = defOf(unwrap(root)).shape?.[key];
    if (!child) continue;
    out.push([...prefix, key]);
    out.push(...allKeyPaths(child, [...prefix, key]));
  }
  return out;
}

/** Object keys, nested where the child is an object (`{ sampler: { eta: null, ... }, seed: null }`). */
export type KeyTree = { [key: string]: KeyTree | null };

export function keyTree(root: z.ZodType): KeyTree {
  const shape = defOf(unwrap(root)).shape ?? {};
  return Object.fromEntries(
    Object.entries(shape).map(([key, child]) => [key, kindOf(child) === "object" ? keyTree(child) : null]),
  );
}

/** A leaf field (anything but an object) and its `.describe()` text, from the outermost wrapper in. */
export interface LeafField {
  path: string[];
  description: string | undefined;
}

/** Every leaf field below `root`, depth first in schema order. */
export function leafFields(root: z.ZodType = ConfigSchema, prefix: string[] = []): LeafField[] {
  const out: LeafField[] = [];
  for (const [key, child] of Object.entries(defOf(unwrap(root)).shape ?? {})) {
    const path = [...prefix, key];
    if (kindOf(child) === "object") {
      out.push(...leafFields(child, path));
      continue;
    }
    let description: string | undefined;
    for (let node: z.ZodType | undefined = child; node && description === undefined; ) {
      description = node.description;
      node = defOf(node).innerType;
    }
    out.push({ path, description });
  }
  return out;
}

export function dotted(path: readonly (string | number)[]): string {
  return path.length === 0 ? "(top level)" : path.map(String).join(".");
}

const TYPE_NAMES: Record<string, string> = {
  int: "an integer",
  number: "a number",
  string: "a string",
  boolean: "true or false",
  object: "a mapping",
  array: "a list",
  tuple: "a list",
  record: "a mapping",
  nan: "a number",
};

function typeName(expected: string): string {
  return TYPE_NAMES[expected] ?? expected;
}

/** Message and hint for an unknown key at `parent`. */
export function unknownKeyProblem(parent: ConfigPath, key: string): ConfigProblemText {
  const path = [...parent, key];
  const lookup = schemaAt(parent);
  const known = lookup.ok ? keysOf(lookup.schema) : [];
  if (isSecretKey(key)) {
    return {
      path,
      atKey: true,
      text: `unknown key "${key}": secrets never go in a config`,
      hint: "export the key in an environment variable and name it in vlm.api_key_env (e.g. api_key_env: OPENAI_API_KEY)",
    };
  }
  const listing = known.length > 0 ? `valid keys of ${dotted(parent)}: ${known.join(", ")}` : undefined;
  const suggestion = suggestKey(key, known);
  // A key that exists elsewhere was most likely written at the wrong level (`rpo:` at the top);
  // among several, the one sharing the longest prefix with where it was written.
  const common = (p: string[]) => {
    let n = 0;
    while (n < p.length && n < parent.length && p[n] === parent[n]) n++;
    return n;
  };
  const elsewhere = allKeyPaths()
    .filter((p) => p[p.length - 1] === key)
    .sort((a, b) => common(b) - common(a))[0];
  if (elsewhere && (suggestion === undefined || editDistance(key, suggestion) > 1)) {
    return {
      path,
      atKey: true,
      text: `unknown key "${key}" here (did you mean ${dotted(elsewhere)}?)`,
      hint: `move it under ${dotted(elsewhere.slice(0, -1))}`,
    };
  }
  const text = `unknown key "${key}"${suggestion ? ` (did you mean "${suggestion}"?)` : ""}`;
  return { path, atKey: true, text, ...(listing ? { hint: listing } : {}) };
}

function bound(issue: { code: string; minimum?: unknown; maximum?: unknown; inclusive?: boolean }): string {
  const small = issue.code === "too_small";
  const op = small ? (issue.inclusive ? ">=" : ">") : issue.inclusive ? "<=" : "<";
  return `${op} ${String(small ? issue.minimum : issue.maximum)}`;
}

/**
 * Describes one zod issue. `valueAt` reads the (merged, pre-validation) input so that the message
 * can say what was found without asking zod to echo inputs.
 */
export function describeIssue(
  issue: z.core.$ZodIssue,
  valueAt: (path: ConfigPath) => unknown,
): ConfigProblemText[] {
  const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
  const got = () => showValue(valueAt(path));
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((key) => unknownKeyProblem(path, key));
    case "invalid_type": {
      const value = valueAt(path);
      if (value === undefined) {
        const lookup = schemaAt(path);
        const required = lookup.ok ? requiredKeysOf(lookup.schema) : [];
        const detail = required.length > 0 ? ` with ${required.join(", ")}` : "";
        return [{ path, text: `required field is missing (expected ${typeName(issue.expected)}${detail})` }];
      }
      if (issue.expected === "int" && typeof value === "number") {
        return [{ path, text: `expected an integer, got ${got()}` }];
      }
      return [{ path, text: `expected ${typeName(issue.expected)}, got ${got()}` }];
    }
    case "too_small":
    case "too_big": {
      const what =
        issue.origin === "array" || issue.origin === "set"
          ? `a list with ${issue.code === "too_small" ? "at least" : "at most"} ${String(issue.code === "too_small" ? issue.minimum : issue.maximum)} items`
          : issue.origin === "string"
            ? `a string of ${issue.code === "too_small" ? "at least" : "at most"} ${String(issue.code === "too_small" ? issue.minimum : issue.maximum)} characters`
            : `a number ${bound(issue)}`;
      return [{ path, text: `expected ${what}, got ${got()}` }];
    }
    case "invalid_value": {
      const options = issue.values.map((v) => JSON.stringify(v)).join(", ");
      const value = valueAt(path);
      const suggestion =
        typeof value === "string"
          ? suggestKey(
              value,
              issue.values.filter((v): v is string => typeof v === "string"),
            )
          : undefined;
      return [
        {
          path,
          text: `expected one of ${options}, got ${got()}${suggestion ? ` (did you mean "${suggestion}"?)` : ""}`,
        },
      ];
    }
    case "invalid_format": {
      const value = valueAt(path);
      if (path[path.length - 1] === "api_key_env" && typeof value === "string") {
        return [
          {
            path,
            text: `expected the NAME of an environment variable, got ${got()}`,
            hint: "put the key itself in an environment variable (export MY_KEY=...) and write api_key_env: MY_KEY",
          },
        ];
      }
      const expected =
        issue.format === "url"
          ? "a URL such as http://localhost:8000/v1"
          : issue.format === "regex"
            ? issue.message
            : `a ${issue.format}`;
      return [{ path, text: `expected ${expected}, got ${got()}` }];
    }
    case "invalid_union": {
      // Report the branch that got furthest: the one whose first issue has the longest path.
      const branches = issue.errors
        .map((branch) => branch[0])
        .filter((first): first is z.core.$ZodIssue => first !== undefined);
      const deepest = branches.sort((a, b) => b.path.length - a.path.length)[0];
      if (deepest && deepest.path.length > 0) {
        return describeIssue(
          { ...deepest, path: [...issue.path, ...deepest.path] } as z.core.$ZodIssue,
          valueAt,
        );
      }
      const alternatives = branches.map((first) =>
        first.code === "invalid_value"
          ? `one of ${first.values.map((v) => JSON.stringify(v)).join(", ")}`
          : first.code === "invalid_type"
            ? typeName(first.expected)
            : first.code === "invalid_format" && first.format === "url"
              ? "a URL"
              : first.message,
      );
      return [{ path, text: `expected ${[...new Set(alternatives)].join(" or ")}, got ${got()}` }];
    }
    case "custom": {
      // Cross-field rules (schema/rules.ts) carry their fix in params.hint.
      const hint = typeof issue.params?.hint === "string" ? issue.params.hint : undefined;
      return [{ path, text: `${issue.message}, got ${got()}`, ...(hint ? { hint } : {}) }];
    }
    default:
      return [{ path, text: `${issue.message}, got ${got()}` }];
  }
}

/**
 * Renders a resolved config as YAML or JSON for `arr config show` and run directories.
 * Secret-looking entries (e.g. a key someone put in `vlm.extra_body`) are redacted on the way out.
 */
import { stringify } from "yaml";
import { leafFields } from "./issues.js";
import type { Config } from "./schema.js";
import { hasSecretPrefix, isSecretKey } from "./suggest.js";

/** Placeholder written instead of anything that looks like a credential. */
export const REDACTED = "<redacted>";

/** A deep copy with secret-named keys and credential-looking strings replaced by {@link REDACTED}. */
export function redactSecrets<T>(value: T): T {
  const walk = (v: unknown, key?: string): unknown => {
    if (typeof v === "string")
      return (key !== undefined && isSecretKey(key)) || hasSecretPrefix(v) ? REDACTED : v;
    if (Array.isArray(v)) return v.map((item) => walk(item));
    if (v !== null && typeof v === "object") {
      return Object.fromEntries(Object.entries(v).map(([k, item]) => [k, walk(item, k)]));
    }
    return v;
  };
  return walk(value) as T;
}

/**
 * One line per leaf field: `dotted.path: value  # description`, in schema order, secrets redacted.
 * Sections the config does not have (no `train`, no `vlm`) are left out.
 */
export function explainConfig(config: Config): string {
  const safe = redactSecrets(config) as unknown as Record<string, unknown>;
  const lines: string[] = [];
  for (const { path, description } of leafFields()) {
    let value: unknown = safe;
    for (const key of path) value = (value as Record<string, unknown> | undefined)?.[key];
    if (value === undefined) continue;
    lines.push(`${path.join(".")}: ${JSON.stringify(value)}${description ? `  # ${description}` : ""}`);
  }
  return `${lines.join("\n")}\n`;
}

/** The config as text: YAML (default) or pretty JSON, always ending in a newline. */
export function formatConfig(config: Config, format: "yaml" | "json" = "yaml"): string {
  const safe = redactSecrets(config);
  return format === "json" ? `${JSON.stringify(safe, null, 2)}\n` : stringify(safe, { lineWidth: 0 });
}

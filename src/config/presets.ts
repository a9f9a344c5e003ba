/**
 * The presets shipped in `configs/*.yaml`. A preset is an ordinary config file whose first line is
 * a `# one-line description` comment; `extends: <name>` and `--preset <name>` refer to it by name.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../errors.js";
import { closest } from "./suggest.js";

/** The preset used when neither a config file nor a preset is given: runs on 2 CPU cores, offline. */
export const DEFAULT_PRESET = "tiny-cpu";

/** One shipped preset. */
export interface PresetInfo {
  /** Name used with `--preset` and `extends:`. */
  name: string;
  /** The file's first comment line. */
  description: string;
  /** Absolute path of the YAML file. */
  file: string;
}

/** `configs/` of this package; the same relative location from `src/config/` and `dist/config/`. */
export function presetsDir(): string {
  return fileURLToPath(new URL("../../configs/", import.meta.url));
}

/** Every preset, sorted by name. */
export function listPresets(dir: string = presetsDir()): PresetInfo[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => {
      const file = path.join(dir, f);
      const first = readFileSync(file, "utf8").split("\n", 1)[0] ?? "";
      return {
        name: f.slice(0, -".yaml".length),
        description: first.startsWith("#") ? first.replace(/^#+\s*/, "").trim() : "",
        file,
      };
    });
}

/** A preset name in `extends:` or `--preset` is a bare word; anything path-like is a file. */
export function isPresetName(ref: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(ref) && !/\.ya?ml$/i.test(ref);
}

/** Absolute file of preset `name`; a ConfigError with a suggestion when there is none. */
export function presetFile(name: string, dir: string = presetsDir()): string {
  const file = path.join(dir, `${name}.yaml`);
  if (isPresetName(name) && existsSync(file)) return file;
  const names = listPresets(dir).map((p) => p.name);
  const suggestion = closest(name, names);
  throw new ConfigError(`unknown preset "${name}"${suggestion ? ` (did you mean "${suggestion}"?)` : ""}`, {
    hint: `presets: ${names.join(", ")} (arr config presets); a file path needs a / or a .yaml suffix`,
  });
}

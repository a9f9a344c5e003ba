/**
 * The config flags every command shares, resolved the same way everywhere:
 * `--config FILE` (or a positional FILE), `--preset NAME`, `--set key=value` (repeatable).
 */
import type { Command } from "commander";
import { type LoadedConfig, loadConfig } from "../config/load.js";
import { UsageError } from "../errors.js";

/** Parsed values of the shared config flags. */
export interface ConfigOptions {
  /** `--config FILE`. */
  config?: string;
  /** `--preset NAME`. */
  preset?: string;
  /** Every `--set key=value`, in order. */
  set?: string[];
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Adds `--config`, `--preset` and `--set` to a command. */
export function addConfigOptions(cmd: Command): Command {
  return cmd
    .option("-c, --config <file>", "config file (YAML); may `extends:` a preset or another file")
    .option(
      "-p, --preset <name>",
      "preset applied under the file (see `arr config presets`; default tiny-cpu)",
    )
    .option("--set <key=value>", "override one field, e.g. --set train.optim.lr=1e-5 (repeatable)", collect);
}

/**
 * Loads the config the flags describe. `file` is a positional FILE for commands that take one;
 * giving it together with `--config` is a usage error.
 */
export async function resolveConfigFromOptions(options: ConfigOptions, file?: string): Promise<LoadedConfig> {
  if (file !== undefined && options.config !== undefined) {
    throw new UsageError(`two config files given: ${file} and --config ${options.config}`, {
      hint: "pass one file; it may `extends:` another",
    });
  }
  const chosen = file ?? options.config;
  return loadConfig({
    ...(chosen !== undefined ? { file: chosen } : {}),
    ...(options.preset !== undefined ? { preset: options.preset } : {}),
    set: options.set ?? [],
  });
}

/**
 * `arr config validate|show|presets`: check config files, print the fully resolved config, list presets.
 */
import type { Command } from "commander";
import { explainConfig, formatConfig } from "../../config/dump.js";
import { displayPath, loadConfig } from "../../config/load.js";
import { listPresets } from "../../config/presets.js";
import { ArrError } from "../../errors.js";
import { addConfigOptions, type ConfigOptions, resolveConfigFromOptions } from "../options.js";

export function register(program: Command): void {
  const config = program.command("config").description("validate, show and list configs and presets");

  config
    .command("validate")
    .description("check config files; one line per file; exit 0 when all are valid, 2 otherwise")
    .argument("<file...>", "config files (YAML)")
    .action(async (files: string[]) => {
      let failed = 0;
      for (const file of files) {
        try {
          await loadConfig({ file });
          process.stdout.write(`ok ${displayPath(file)}\n`);
        } catch (error) {
          if (!(error instanceof ArrError)) throw error;
          failed++;
          // One line per file: the location and problem; the snippet and hint are for `config show`.
          const first = error.message.split("\n")[0] ?? error.message;
          const shown = first.startsWith(displayPath(file)) ? first : `${displayPath(file)}: ${first}`;
          process.stderr.write(`invalid ${shown}\n`);
        }
      }
      if (failed > 0) process.exitCode = 2;
    });

  addConfigOptions(
    config
      .command("show")
      .description("print the fully resolved config (every default filled in, paths absolute)")
      .argument("[file]", "config file (same as --config)")
      .option("--json", "print JSON instead of YAML")
      .option("--explain", "one line per field: its value and what it means"),
  ).action(
    async (file: string | undefined, options: ConfigOptions & { json?: boolean; explain?: boolean }) => {
      const { config: resolved } = await resolveConfigFromOptions(options, file);
      if (options.explain) process.stdout.write(explainConfig(resolved));
      else process.stdout.write(formatConfig(resolved, options.json ? "json" : "yaml"));
    },
  );

  config
    .command("presets")
    .description("list the shipped presets, one line each")
    .action(() => {
      const presets = listPresets();
      const width = Math.max(0, ...presets.map((p) => p.name.length));
      for (const preset of presets)
        process.stdout.write(`${preset.name.padEnd(width)}  ${preset.description}\n`);
    });
}

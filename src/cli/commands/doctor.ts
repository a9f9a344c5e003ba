/**
 * `arr doctor [--json]`: Node, Python, torch/CUDA/GPUs, diffusers/transformers/peft, the runtime,
 * and (with --config/--preset) the configured VLM endpoint. Exit 1 when something required is missing.
 */
import type { Command } from "commander";
import type { Config } from "../../config/schema.js";
import { formatDoctorReport, runDoctor } from "../../runtime/doctor.js";
import { addConfigOptions, type ConfigOptions, resolveConfigFromOptions } from "../options.js";

export function register(program: Command): void {
  addConfigOptions(
    program
      .command("doctor")
      .description("check Node, Python, torch, GPUs and the runtime; with a config, also the VLM endpoint")
      .option("--json", "print the report as JSON (nothing else on stdout)"),
  ).action(async (flags: ConfigOptions & { json?: boolean }) => {
    // The endpoint is only checked when a config says which one to use.
    const wantsConfig =
      flags.config !== undefined || flags.preset !== undefined || (flags.set?.length ?? 0) > 0;
    const config: Config | null = wantsConfig ? (await resolveConfigFromOptions(flags)).config : null;
    const report = await runDoctor({ config });
    process.stdout.write(
      flags.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatDoctorReport(report)}\n`,
    );
    if (!report.ok) process.exitCode = 1;
  });
}

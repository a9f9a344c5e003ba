/**
 * `arr plan`: parameters, memory per GPU (with a verdict), time and judge cost of a training config,
 * before it runs (src/plan/). `arr train --dry-run` prints the same report and exits.
 */
import type { Command } from "commander";
import type { Config } from "../../config/schema.js";
import { UsageError } from "../../errors.js";
import { DEFAULT_GPU, GPUS } from "../../plan/gpus.js";
import { plan } from "../../plan/plan.js";
import { renderPlan } from "../../plan/render.js";
import { addConfigOptions, type ConfigOptions, resolveConfigFromOptions } from "../options.js";

/** The flags `arr plan` and `arr train --dry-run` share. */
export interface PlanFlags {
  gpu: string;
  efficiency?: string;
  judgeProcessor?: string;
  json?: boolean;
}

/** Adds --gpu, --efficiency and --judge-processor. */
export function addPlanOptions(cmd: Command): Command {
  return cmd
    .option("--gpu <name>", `GPU to plan for: ${GPUS.map((g) => g.name).join(", ")}`, DEFAULT_GPU)
    .option("--efficiency <share>", "share of the bf16 peak to assume (default: bench/gpu results, else 0.4)")
    .option(
      "--judge-processor <path>",
      "the judge's preprocessor_config.json when its family is not recognised",
    );
}

/** Plans `config` and prints the report (text, or JSON with --json) to stdout. */
export async function printPlan(config: Config, flags: PlanFlags): Promise<void> {
  let efficiency: number | undefined;
  if (flags.efficiency !== undefined) {
    efficiency = Number(flags.efficiency);
    if (!(efficiency > 0 && efficiency <= 1)) {
      throw new UsageError(`--efficiency must be a share in (0, 1], got "${flags.efficiency}"`);
    }
  }
  process.stderr.write("counting parameters on the meta device ...\n");
  const result = await plan({
    config,
    gpu: flags.gpu,
    ...(efficiency === undefined ? {} : { efficiency }),
    ...(flags.judgeProcessor === undefined ? {} : { judgeProcessor: flags.judgeProcessor }),
  });
  process.stdout.write(flags.json ? `${JSON.stringify(result, null, 2)}\n` : renderPlan(result));
}

export function register(program: Command): void {
  addPlanOptions(
    addConfigOptions(
      program
        .command("plan")
        .description(
          "before a run: parameters, memory per GPU, time per update and judge cost of a training config",
        )
        .option("--json", "print the plan as JSON"),
    ),
  ).action(async (flags: ConfigOptions & PlanFlags) => {
    const { config } = await resolveConfigFromOptions(flags);
    await printPlan(config, flags);
  });
}

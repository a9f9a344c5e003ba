/**
 * `arr train`: RPO training (src/train/train.ts). Ctrl-C (or SIGTERM) asks the workers to checkpoint
 * and stop; a second one kills them. `--resume RUN_DIR` continues a run exactly from its latest
 * checkpoint. Exit status: 0 finished, 3 stopped early (resumable), 1 failed, 2 bad usage or config.
 */

import { resolve } from "node:path";
import type { Command } from "commander";
import { EXIT_STOPPED, UsageError } from "../../errors.js";
import { progressPrinter } from "../../train/progress.js";
import { runPaths } from "../../train/run-dir.js";
import { train } from "../../train/train.js";
import { onTrainingInterrupt } from "../interrupt.js";
import { addConfigOptions, type ConfigOptions, resolveConfigFromOptions } from "../options.js";
import { addPlanOptions, type PlanFlags, printPlan } from "./plan.js";

interface TrainFlags extends ConfigOptions, PlanFlags {
  resume?: string;
  dryRun?: boolean;
  json?: boolean;
  quiet?: boolean;
}

async function run(flags: TrainFlags): Promise<void> {
  if (flags.resume && (flags.config || flags.preset)) {
    throw new UsageError("--resume continues a run with its own stored config", {
      hint: "drop --config/--preset; use --set to change fields such as train.max_steps",
    });
  }
  // A resumed run continues with its stored config; --set may still change fields (e.g. max_steps).
  const { config } = await resolveConfigFromOptions(
    flags.resume
      ? { config: runPaths(resolve(flags.resume)).config, ...(flags.set ? { set: flags.set } : {}) }
      : flags,
  );
  if (flags.dryRun) {
    await printPlan(config, flags);
    return;
  }
  const printer = progressPrinter();
  const interrupt = onTrainingInterrupt(printer.log);
  try {
    const result = await train({
      config,
      ...(flags.resume ? { resume: flags.resume } : {}),
      signal: interrupt.stop,
      killSignal: interrupt.kill,
      ...(flags.quiet ? {} : { onProgress: printer.update, onLog: printer.log }),
    });
    printer.done();
    if (flags.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else {
      process.stdout.write(
        `${result.stopReason ? `stopped early (${result.stopReason})` : "finished"}: ${result.updates} updates\n` +
          `run: ${result.runDir}\nreport: ${result.paths.report}\n` +
          (config.run.trackers.includes("tensorboard")
            ? `tensorboard: tensorboard --logdir ${result.paths.tensorboard}\n`
            : ""),
      );
    }
    if (result.stopReason) {
      process.stderr.write(
        `arr: the run stopped early; continue it with \`arr train --resume ${result.runDir}\`\n`,
      );
      process.exitCode = EXIT_STOPPED;
    }
  } finally {
    interrupt.release();
  }
}

export function register(program: Command): void {
  addPlanOptions(
    addConfigOptions(
      program
        .command("train")
        .description("RPO training of an image generator under the rubric-conditioned judge")
        .option("--resume <run-dir>", "continue the run in this directory from its latest checkpoint")
        .option(
          "--dry-run",
          "print the plan (`arr plan`: memory, time, judge cost) and exit without training",
        )
        .option("--json", "print the result as JSON")
        .option("-q, --quiet", "no progress output"),
    ),
  ).action((flags: TrainFlags) => run(flags));
}

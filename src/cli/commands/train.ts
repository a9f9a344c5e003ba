/**
 * `arr train`: RPO training (src/train/train.ts). Ctrl-C (or SIGTERM) asks the workers to checkpoint
 * and stop; a second one kills them. `--resume RUN_DIR` continues a run exactly from its latest
 * checkpoint. Exit status: 0 finished, 3 stopped early (resumable), 1 failed, 2 bad usage or config.
 *
 * Several nodes: node 0 runs `arr train` with `train.distributed.nnodes > 1` and prints the command
 * each other node runs, `arr train --join URL --node-rank N` (src/train/join.ts). The run's token
 * travels in ARR_JOIN_TOKEN (or on the joining node's stdin), never in argv.
 */

import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import type { Command } from "commander";
import { EXIT_STOPPED, UsageError } from "../../errors.js";
import { joinRun } from "../../train/join.js";
import { JOIN_TOKEN_ENV, joinCommand } from "../../train/join-info.js";
import { runPaths } from "../../train/run-dir.js";
import { train } from "../../train/train.js";
import { onTrainingInterrupt } from "../interrupt.js";
import { addConfigOptions, type ConfigOptions, resolveConfigFromOptions } from "../options.js";
import { trainProgress } from "../progress.js";
import { addPlanOptions, type PlanFlags, printPlan } from "./plan.js";

interface TrainFlags extends ConfigOptions, PlanFlags {
  resume?: string;
  join?: string;
  nodeRank?: string;
  runDir?: string;
  dryRun?: boolean;
  json?: boolean;
  quiet?: boolean;
}

async function run(flags: TrainFlags): Promise<void> {
  if (flags.join) return joinFromCli(flags.join, flags);
  if (flags.nodeRank !== undefined || flags.runDir !== undefined) {
    throw new UsageError("--node-rank and --run-dir go with --join (a node joining a run)");
  }
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
  const printer = trainProgress();
  const interrupt = onTrainingInterrupt(printer.log);
  const nnodes = config.train?.distributed.nnodes ?? 1;
  // A multi-node run's token: the user's (every node has it in ARR_JOIN_TOKEN), else one made here.
  const given = process.env[JOIN_TOKEN_ENV] || null;
  const serviceToken = nnodes > 1 ? (given ?? randomBytes(24).toString("hex")) : null;
  const onJoinable = (url: string) => {
    printer.log(`multi-node run: on each other node (N = 1..${nnodes - 1}), run`);
    printer.log(`  ${joinCommand(url, "N", given ? null : serviceToken)}`);
  };
  try {
    const result = await train({
      config,
      ...(serviceToken ? { serviceToken, onJoinable } : {}),
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

/** `arr train --join URL`: this node's share of a run node 0 owns. */
async function joinFromCli(url: string, flags: TrainFlags): Promise<void> {
  if (flags.resume || flags.config || flags.preset || flags.set || flags.dryRun) {
    throw new UsageError("--join takes the run's config from node 0", {
      hint: "drop --resume/--config/--preset/--set/--dry-run on the joining node; node 0 decides them",
    });
  }
  const nodeRank = flags.nodeRank === undefined ? undefined : Number(flags.nodeRank);
  if (nodeRank !== undefined && !Number.isInteger(nodeRank)) {
    throw new UsageError(`--node-rank ${flags.nodeRank}: expected an integer`);
  }
  const printer = trainProgress();
  const interrupt = onTrainingInterrupt(printer.log);
  try {
    const result = await joinRun({
      url,
      token: await readJoinToken(),
      ...(nodeRank !== undefined ? { nodeRank } : {}),
      ...(flags.runDir ? { runDir: flags.runDir } : {}),
      killSignal: interrupt.stop,
      ...(flags.quiet ? {} : { onLog: printer.log }),
    });
    printer.done();
    if (flags.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else process.stdout.write(`node ${result.nodeRank} of run ${result.runId} done\nrun: ${result.runDir}\n`);
    if (interrupt.stop.aborted) process.exitCode = EXIT_STOPPED;
  } finally {
    interrupt.release();
  }
}

/** The run's token on a joining node: ARR_JOIN_TOKEN, else the first line of stdin (a pipe). */
export async function readJoinToken(
  env: NodeJS.ProcessEnv = process.env,
  stdin: NodeJS.ReadStream = process.stdin,
): Promise<string> {
  const fromEnv = env[JOIN_TOKEN_ENV]?.trim();
  if (fromEnv) return fromEnv;
  if (!stdin.isTTY) {
    let text = "";
    for await (const chunk of stdin) text += String(chunk);
    const line = text.split("\n")[0]?.trim();
    if (line) return line;
  }
  throw new UsageError(`--join needs the run's token in ${JOIN_TOKEN_ENV} (or piped on stdin)`, {
    hint: `node 0 printed the command; never put the token in argv, where any process list shows it`,
  });
}

export function register(program: Command): void {
  addPlanOptions(
    addConfigOptions(
      program
        .command("train")
        .description("RPO training of an image generator under the rubric-conditioned judge")
        .option("--resume <run-dir>", "continue the run in this directory from its latest checkpoint")
        .option(
          "--join <url>",
          `join the multi-node run node 0 serves at this URL (token in ${JOIN_TOKEN_ENV} or on stdin)`,
        )
        .option("--node-rank <n>", "with --join: this node's rank, 1..nnodes-1 (default 1 of 2 nodes)")
        .option(
          "--run-dir <dir>",
          "with --join: this node's copy of the run directory (default runs/<run>-node<N>; rejoin a resume with the same)",
        )
        .option(
          "--dry-run",
          "print the plan (`arr plan`: memory, time, judge cost) and exit without training",
        )
        .option("--json", "print the result as JSON")
        .option("-q, --quiet", "no progress output"),
    ),
  ).action((flags: TrainFlags) => run(flags));
}

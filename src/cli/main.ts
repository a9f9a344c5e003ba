#!/usr/bin/env node
/**
 * The `arr` command line: registers the commands and owns the single error boundary.
 * Commands are thin: they parse flags, call the SDK function of the same name and render its result.
 * Nothing here imports Python: the bridge is loaded lazily by the commands that need it.
 */
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Command, CommanderError } from "commander";
import { ArrError } from "../errors.js";
import { VERSION } from "../version.js";
import { registerCommands } from "./commands/index.js";

export function buildProgram(): Command {
  const program = new Command("arr")
    .description("Auto-Rubric as Reward: explicit VLM rubrics as the reward for image-generator RL")
    .version(VERSION)
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  registerCommands(program);
  return program;
}

/** Prints an error the way every command does: one line of what and where, then how to fix it. */
export function reportError(error: unknown): number {
  if (error instanceof CommanderError) {
    // commander already printed its message; usage errors are exit code 2.
    return error.exitCode === 0 ? 0 : 2;
  }
  if (error instanceof ArrError) {
    process.stderr.write(`arr: ${error.message}\n`);
    if (error.hint) process.stderr.write(`  hint: ${error.hint}\n`);
    if (process.env.ARR_DEBUG && error.cause) process.stderr.write(`  cause: ${String(error.cause)}\n`);
    return error.exitCode;
  }
  process.stderr.write(
    `arr: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  return 1;
}

export async function main(argv: string[] = process.argv): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (error) {
    return reportError(error);
  }
}

/**
 * True when this module is the program being run: directly (`node dist/cli/main.js`), through the
 * npm bin symlink (`node_modules/.bin/arr` -> dist/cli/main.js), or through tsx (`tsx src/cli/main.ts`,
 * `npm run arr --`). Both sides go through realpath because Node reports the symlink in argv[1]
 * but the target in import.meta.url.
 */
export function isEntryPoint(
  argv1: string | undefined = process.argv[1],
  moduleUrl: string = import.meta.url,
): boolean {
  if (!argv1) return false;
  const self = fileURLToPath(moduleUrl);
  for (const candidate of [argv1, `${argv1}.js`, `${argv1}.ts`]) {
    try {
      if (realpathSync(candidate) === realpathSync(self)) return true;
    } catch {
      // not this spelling of the path; try the next
    }
  }
  return false;
}

if (isEntryPoint()) {
  main().then((code) => {
    process.exitCode = code;
  });
}

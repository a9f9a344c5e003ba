/**
 * `arr setup`: installs the Python runtime (exact pins, CPU or CUDA torch) into the per-user
 * location, or `--venv DIR`. Logic: src/runtime/setup.ts. pip's output goes to stderr; stdout gets
 * the result (or JSON with --json).
 */
import { resolve } from "node:path";
import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import { cliCommand } from "../../runtime/python.js";
import { setupRuntime, TORCH_CHOICES, type TorchChoice } from "../../runtime/setup.js";

interface SetupFlags {
  torch: string;
  venv?: string;
  python?: string;
  force?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

/** A command line as a shell would need it typed. */
function shell(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w./=+:@-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(" ");
}

async function run(flags: SetupFlags): Promise<void> {
  if (!TORCH_CHOICES.includes(flags.torch as TorchChoice)) {
    throw new UsageError(`--torch ${flags.torch}: expected one of ${TORCH_CHOICES.join(", ")}`);
  }
  const result = await setupRuntime({
    torch: flags.torch as TorchChoice,
    ...(flags.venv ? { venv: resolve(flags.venv) } : {}),
    ...(flags.python ? { basePython: flags.python } : {}),
    ...(flags.force ? { force: true } : {}),
    ...(flags.dryRun ? { dryRun: true } : {}),
    onLog: (line) => process.stderr.write(`${line}\n`),
  });
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  const lines =
    result.action === "skipped"
      ? [result.note ?? ""]
      : result.action === "planned"
        ? [
            `would set up ${result.venv} (torch build: ${result.torch}):`,
            ...result.commands.flatMap((c) => [
              `  ${shell(c.argv)}`,
              ...(c.fallback ? [`  (if the configured package sources lack it) ${shell(c.fallback)}`] : []),
            ]),
          ]
        : [
            `${result.action === "ready" ? "already set up" : "set up"}: ${result.python} (torch build: ${result.torch})`,
            `check it with: ${cliCommand("doctor")}`,
          ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

export function register(program: Command): void {
  program
    .command("setup")
    .description("install the Python runtime (exact pins; CPU or CUDA torch) for this autorubric version")
    .option(
      "--torch <build>",
      `torch build: ${TORCH_CHOICES.join("|")} (auto: the current one, else CUDA when an NVIDIA driver is found)`,
      "auto",
    )
    .option(
      "--venv <dir>",
      "install into this venv (default: $ARR_HOME or ~/.cache/autorubric, per lock file)",
    )
    .option("--python <python>", "interpreter that creates the venv (default: $ARR_BASE_PYTHON or python3)")
    .option("--force", "reinstall even when the runtime is up to date")
    .option("--dry-run", "print the commands without running them")
    .option("--json", "print the result as JSON")
    .action((flags: SetupFlags) => run(flags));
}

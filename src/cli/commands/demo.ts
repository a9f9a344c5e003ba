/**
 * `arr demo`: the main job on the embedded default (tiny-cpu), offline and on CPU: referee, rubric
 * induction from the bundled seeds, judge evaluation with vs without the rubric, RPO training of the
 * tiny FLUX on 2 CPU workers, and the trained LoRA's win rate over the base model (src/demo/demo.ts).
 * Progress goes to stderr; the summary with paths goes to stdout.
 */
import { relative } from "node:path";
import type { Command } from "commander";
import { type DemoResult, runDemo } from "../../demo/demo.js";
import { UsageError } from "../../errors.js";
import { onTrainingInterrupt } from "../interrupt.js";
import { addConfigOptions, type ConfigOptions, resolveConfigFromOptions } from "../options.js";
import { trainProgress } from "../progress.js";

interface DemoFlags extends ConfigOptions {
  out?: string;
  minWinrate: string;
  control?: boolean;
  json?: boolean;
  quiet?: boolean;
}

function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel.startsWith("..") ? path : rel;
}

export function formatDemoSummary(r: DemoResult): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const w = r.winrate;
  const lines = [
    "",
    "autorubric demo: done",
    `  judge:      ${r.judge.ruleBased ? "offline referee (rule-based reference judge, NOT a VLM)" : r.judge.model}`,
    `  rubric:     ${r.rubric.criteria} criteria in ${r.rubric.themes} themes, ${r.rubric.passed}/${r.rubric.pairs} seed pairs verified -> ${shown(r.rubric.file)}`,
    `  judge eval: held-out pair accuracy ${pct(r.evaluation.direct)} without the rubric, ${pct(r.evaluation.withRubric)} with it -> ${shown(r.evaluation.report)}`,
    `  training:   ${r.training.updates} RPO updates${r.training.stopReason ? ` (stopped early: ${r.training.stopReason})` : ""} -> ${shown(r.training.runDir)}`,
    w
      ? `  LEARNING:   the trained LoRA beats the base model in ${pct(w.rate)} of ${w.prompts} held-out prompts (95% CI ${pct(w.interval.low)}-${pct(w.interval.high)}; same seeds, both orders, same judge)`
      : "  LEARNING:   not measured (no checkpoint was written)",
    ...(r.control?.winrate
      ? [
          `  control:    the same training with every verdict reversed wins ${pct(r.control.winrate.rate)} under the same judge${w && r.control.winrate.rate < 0.5 && w.rate > 0.5 ? " (the two runs move apart: the learning follows the judge)" : ""}`,
        ]
      : []),
    `  report:     ${shown(r.files.report)}`,
    `  summary:    ${shown(r.files.summary)}`,
    `  time:       ${r.seconds.total.toFixed(0)} s`,
    "",
  ];
  return lines.join("\n");
}

/** The demo shows learning or fails: a win rate below the bar, or a control that wins, is an error. */
export function learningFailure(r: DemoResult, minWinrate: number): string | null {
  if (r.training.stopReason) return null; // an interrupted demo is not a measurement
  if (!r.winrate) return "no trained checkpoint to measure";
  if (r.winrate.rate < minWinrate) {
    return `the trained LoRA wins ${(100 * r.winrate.rate).toFixed(1)}% < ${(100 * minWinrate).toFixed(0)}% against the base`;
  }
  if (r.control?.winrate && r.control.winrate.rate >= 0.5) {
    return `the reversed-verdict control also wins (${(100 * r.control.winrate.rate).toFixed(1)}%): the learning does not follow the judge`;
  }
  return null;
}

async function run(flags: DemoFlags): Promise<void> {
  const minWinrate = Number(flags.minWinrate);
  if (!(minWinrate >= 0 && minWinrate <= 1)) {
    throw new UsageError(`--min-winrate ${flags.minWinrate}: expected a fraction between 0 and 1`);
  }
  const printer = trainProgress();
  const interrupt = onTrainingInterrupt(printer.log);
  try {
    // Default: the embedded tiny-cpu preset; --config/--preset/--set work as everywhere else.
    const { config } = await resolveConfigFromOptions(flags);
    const result = await runDemo({
      config,
      control: flags.control !== false,
      ...(flags.out ? { outputDir: flags.out } : {}),
      signal: interrupt.stop,
      killSignal: interrupt.kill,
      ...(flags.quiet
        ? {}
        : {
            onStage: (_stage, message) => printer.log(`==> ${message}`),
            onTrainProgress: printer.update,
            onLog: (line) => {
              // Worker chatter stays in the run directory's logs; errors and checkpoints are shown.
              if (/error|Traceback|checkpoint saved|stopping/i.test(line)) printer.log(line);
            },
          }),
    });
    printer.done();
    process.stdout.write(flags.json ? `${JSON.stringify(result, null, 2)}\n` : formatDemoSummary(result));
    const failure = learningFailure(result, minWinrate);
    if (failure) {
      process.stderr.write(`arr: learning not shown: ${failure}\n`);
      process.exitCode = 1;
    }
  } finally {
    interrupt.release();
  }
}

export function register(program: Command): void {
  addConfigOptions(
    program
      .command("demo")
      .description(
        "the whole pipeline offline on CPU: referee judge (rule-based, not a VLM), rubric induction, judge evaluation, RPO of a tiny FLUX, win rate vs base",
      )
      .option("-o, --out <dir>", "parent directory of the demo directory (default: run.output_dir)")
      .option("--no-control", "skip the control run trained with the verdicts reversed")
      .option("--min-winrate <fraction>", "exit 1 when the trained LoRA wins less often than this", "0.7")
      .option("--json", "print the result as JSON")
      .option("-q, --quiet", "no progress output"),
  ).action((flags: DemoFlags) => run(flags));
}

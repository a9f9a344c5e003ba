/**
 * `arr judge`: judge preference pairs under a rubric and write one verdict per line. Logic lives
 * in src/judge/ (createJudge, loadPairs); this file parses flags, streams verdicts to --out as they
 * arrive (a stop loses nothing) and prints the summary.
 */
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { Command } from "commander";
import { loadPairs, type PreferencePair } from "../../data/pairs.js";
import { UsageError } from "../../errors.js";
import { compareInputFromPair, createJudge, type Verdict } from "../../judge/judge.js";
import { summarizeVerdicts } from "../../judge/summary.js";
import { loadRubric } from "../../rubrics/rubric.js";
import { openVlm } from "../../vlm/client.js";
import { UsageMeter } from "../../vlm/usage.js";
import { onInterrupt } from "../interrupt.js";
import { addConfigOptions, type ConfigOptions, resolveConfigFromOptions } from "../options.js";
import { countProgress } from "../progress.js";

interface JudgeFlags extends ConfigOptions {
  pairs: string;
  rubrics?: string;
  out?: string;
  json?: boolean;
  progress?: boolean;
  skipBad?: boolean;
}

function record(pair: PreferencePair, v: Verdict): string {
  return JSON.stringify({ id: pair.id, label_rank: pair.labelRank ?? null, ...v });
}

async function run(flags: JudgeFlags): Promise<void> {
  const { config } = await resolveConfigFromOptions(flags);
  const { pairs, skipped } = await loadPairs(resolve(flags.pairs), {
    task: config.judge.task,
    ...(flags.skipBad ? { skipBad: true } : {}),
  });
  if (pairs.length === 0) throw new UsageError(`${flags.pairs}: no pairs to judge`);
  const rubricFile = flags.rubrics ? resolve(flags.rubrics) : config.judge.rubric_file;
  const rubric = rubricFile ? await loadRubric(rubricFile) : null;
  if (!rubric) process.stderr.write("arr: no rubric given: judging zero-shot (the no-rubric baseline)\n");

  const meter = new UsageMeter({ price: config.vlm?.price ?? null, budget: config.judge.budget });
  const opened = await openVlm(config, { meter });
  let out: WriteStream | null = null;
  if (flags.out) {
    await mkdir(dirname(resolve(flags.out)), { recursive: true });
    out = createWriteStream(resolve(flags.out));
  }
  const interrupt = onInterrupt();
  // Only on a terminal: judge output is often piped, and it streams verdicts anyway.
  const progress = countProgress("judge", {
    enabled: flags.progress !== false && !flags.json && process.stderr.isTTY === true,
  });
  const done: Verdict[] = [];
  let failure: unknown = null;
  const judge = createJudge({
    vlm: opened.client,
    config: config.judge,
    image: opened.config.image,
    rubric: rubric ? { text: rubric.text, hash: rubric.hash } : null,
    meter,
  });
  try {
    progress.update(0, pairs.length);
    await judge.compareMany(pairs.map(compareInputFromPair), {
      concurrency: config.judge.concurrency,
      signal: interrupt.signal,
      onVerdict: (v, i) => {
        done.push(v);
        out?.write(`${record(pairs[i] as PreferencePair, v)}\n`);
      },
      onProgress: (p) =>
        progress.update(p.done, p.total, [`decided ${p.decided}`, `ties ${p.ties}`, `invalid ${p.invalid}`]),
    });
  } catch (error) {
    failure = interrupt.explain(error, "judging interrupted");
  } finally {
    progress.done();
    interrupt.release();
    await new Promise<void>((r) => (out ? out.end(r) : r()));
    await opened.close();
  }

  const s = summarizeVerdicts(done);
  const stats = judge.stats();
  const usage = meter.totals;
  const summary = {
    pairs: pairs.length,
    judged: s.total,
    skipped: skipped.length,
    decided: s.decided,
    ties: s.ties,
    invalid: s.invalid,
    failed: s.failed,
    order_agreement: s.agreementRate,
    calls: usage.calls,
    reasks: stats.reasks,
    tokens: usage.totalTokens,
    cost: usage.cost,
    cache_hits: stats.cacheHits,
    cached_orders: s.cachedOrders,
    orders: s.orders,
    model: judge.model,
    template_version: judge.templateVersion,
    rubric_hash: rubric?.hash ?? null,
    out: flags.out ? resolve(flags.out) : null,
    stopped: failure ? (failure as Error).message : null,
  };
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } else {
    const pct = (x: number) => (s.total ? `${((100 * x) / s.total).toFixed(1)}%` : "-");
    const lines = [
      `judged ${s.total}/${pairs.length} pairs${skipped.length ? ` (${skipped.length} bad rows skipped)` : ""} with ${judge.model} (${judge.templateVersion}, order ${config.judge.order})`,
      `decided ${s.decided} (${pct(s.decided)}) · ties ${s.ties} (${pct(s.ties)}) · invalid ${s.invalid} (${pct(s.invalid)}${s.failed ? `, ${s.failed} failed calls` : ""})`,
      `order agreement ${s.agreementRate == null ? "n/a (single order)" : `${(100 * s.agreementRate).toFixed(1)}% of ${s.orderPairs}`}`,
      `calls ${usage.calls} (${stats.reasks} re-asks) · tokens ${usage.totalTokens} · cost ${usage.cost.toFixed(4)} · cache hits ${stats.cacheHits}/${s.orders} orders`,
    ];
    if (flags.out) lines.push(`verdicts: ${flags.out}`);
    process.stdout.write(`${lines.join("\n")}\n`);
  }
  if (failure) throw failure;
}

export function register(program: Command): void {
  addConfigOptions(
    program
      .command("judge")
      .description("judge preference pairs under a rubric; writes verdicts as JSONL and prints a summary"),
  )
    .requiredOption("--pairs <file>", "pairs file (JSON array or JSONL in the reference layout)")
    .option("--rubrics <file>", "rubric file (default: judge.rubric_file; none: zero-shot)")
    .option("--out <file>", "write one verdict per line (JSONL)")
    .option("--json", "print the summary as JSON on stdout")
    .option("--skip-bad", "skip bad rows of the pairs file instead of stopping")
    .option("--no-progress", "no progress bar")
    .action((flags: JudgeFlags) => run(flags));
}

/**
 * `arr rubrics induce|show`: induce a rubric from labelled seed pairs (or zero-shot from the task
 * description) and print a rubric file as Markdown. Logic lives in src/rubrics/.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { extname, join, resolve } from "node:path";
import type { Command } from "commander";
import { displayPath } from "../../config/load.js";
import { loadPairs } from "../../data/pairs.js";
import { UsageError } from "../../errors.js";
import { CallCache } from "../../rubrics/call-cache.js";
import { type InductionProgress, type InductionResult, induceRubrics } from "../../rubrics/induce.js";
import { loadRubric, renderRubricMarkdown, saveRubric } from "../../rubrics/rubric.js";
import { induceZeroShot } from "../../rubrics/zero-shot.js";
import { openVlm } from "../../vlm/client.js";
import { UsageMeter } from "../../vlm/usage.js";
import { onInterrupt } from "../interrupt.js";
import { addConfigOptions, type ConfigOptions, resolveConfigFromOptions } from "../options.js";
import { countProgress } from "../progress.js";

interface InduceFlags extends ConfigOptions {
  seeds?: string;
  out: string;
  criteriaPerPair?: string;
  zeroShot?: boolean;
  progress?: boolean;
}

function parseK(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const k = Number(value);
  if (!Number.isInteger(k) || k < 1 || k > 100) {
    throw new UsageError(`--criteria-per-pair must be an integer from 1 to 100, got "${value}"`, {
      hint: "the paper's cardinality ablation uses 1, 5, 10 and 20",
    });
  }
  return k;
}

function summary(out: string, r: InductionResult): string {
  const lines = [
    `wrote ${displayPath(out)}: ${r.rubric.criteria.length} criteria${r.rubric.themes.length ? ` in ${r.rubric.themes.length} themes` : ""} (categorization: ${r.provenance.categorization.status}${r.provenance.categorization.reason ? `, ${r.provenance.categorization.reason}` : ""})`,
  ];
  if (r.stats) {
    const s = r.stats;
    lines.push(
      `pairs: ${s.pairs} · passed first time ${s.passed_first_time} · passed after refinement ${s.passed_after_refinement} · dropped ${s.dropped} · failed ${s.failed}`,
    );
  }
  const u = r.usage;
  lines.push(
    `calls: ${u.calls} paid, ${u.cached_calls} from cache · tokens ${u.prompt_tokens + u.completion_tokens} · cost ${u.cost.toFixed(4)}`,
    `rubric hash: ${r.hash}`,
  );
  return `${lines.join("\n")}\n`;
}

async function induce(flags: InduceFlags): Promise<void> {
  const k = parseK(flags.criteriaPerPair);
  const out = resolve(flags.out);
  if (![".yaml", ".yml", ".json"].includes(extname(out).toLowerCase())) {
    throw new UsageError(`--out ${flags.out}: a rubric file must end in .yaml, .yml or .json`);
  }
  if (!flags.zeroShot && !flags.seeds) {
    throw new UsageError(
      "--seeds FILE is required (or --zero-shot to induce from the task description alone)",
    );
  }
  const { config } = await resolveConfigFromOptions(flags);
  const induction = k === undefined ? config.induction : { ...config.induction, criteria_per_pair: k };
  // Read and check the seeds before anything is paid for.
  const seedsPath = flags.seeds ? resolve(flags.seeds) : null;
  const seeds = seedsPath && !flags.zeroShot ? await loadPairs(seedsPath, { task: induction.task }) : null;
  const seedsHash =
    seedsPath && seeds
      ? createHash("sha256")
          .update(await readFile(seedsPath))
          .digest("hex")
      : null;

  const vlmConfig = config.vlm;
  const meter = new UsageMeter({ price: vlmConfig?.price ?? null, budget: induction.budget });
  const opened = await openVlm(config, { meter });
  const interrupt = onInterrupt();
  const bar = countProgress("induce", { enabled: flags.progress !== false });
  const cache = new CallCache(config.judge.cache_dir ? join(config.judge.cache_dir, "induction") : null);
  let result: InductionResult;
  try {
    const common = {
      vlm: opened.client,
      config: induction,
      cache,
      price: opened.config.price,
      signal: interrupt.signal,
      onProgress: (e: InductionProgress) =>
        bar.update(e.done, e.total, [
          `passed ${e.passed}`,
          `dropped ${e.dropped}`,
          `failed ${e.failed}`,
          ...(e.stage === "pairs" ? [] : [e.stage]),
        ]),
    };
    result = seeds
      ? await induceRubrics({
          ...common,
          pairs: seeds.pairs,
          judge: config.judge,
          image: opened.config.image,
          seeds: { file: seedsPath, sha256: seedsHash },
        })
      : await induceZeroShot({ ...common, image: opened.config.image });
  } catch (error) {
    throw interrupt.explain(
      error,
      "rubric induction interrupted",
      "rerun the same command to resume: calls already paid for are cached",
    );
  } finally {
    bar.done();
    interrupt.release();
    await opened.close();
  }
  await saveRubric(out, result.rubric);
  process.stdout.write(summary(out, result));
}

export function register(program: Command): void {
  const rubrics = program
    .command("rubrics")
    .description("induce rubrics from preference pairs, show rubric files");

  addConfigOptions(
    rubrics
      .command("induce")
      .description("generate, verify blind, refine and structure rubrics from labelled seed pairs")
      .option("--seeds <file>", "labelled seed pairs (JSON or JSONL, reference layout)")
      .requiredOption("-o, --out <file>", "rubric file to write (.yaml, .yml or .json)")
      .option("-k, --criteria-per-pair <K>", "criteria generated per pair (paper ablation: 1, 5, 10, 20)")
      .option("--zero-shot", "induce from induction.task_description alone, without seed pairs")
      .option("--no-progress", "no progress bar on stderr"),
  ).action(async (flags: InduceFlags) => {
    await induce(flags);
  });

  rubrics
    .command("show")
    .description("print a rubric file as Markdown")
    .argument("<file>", "rubric file (.yaml, .yml or .json)")
    .option("--text", "print the exact text the judge receives instead")
    .action(async (file: string, flags: { text?: boolean }) => {
      const loaded = await loadRubric(resolve(file));
      process.stdout.write(
        flags.text
          ? `${loaded.text}\n`
          : `${renderRubricMarkdown(loaded.rubric, `Rubric ${displayPath(file)}`)}\n`,
      );
    });
}

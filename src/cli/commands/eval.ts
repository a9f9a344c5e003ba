/**
 * `arr eval`: preference accuracy of a judge on a labelled dataset, in both presentation orders,
 * with bootstrap intervals and report.html; `arr eval --compare` runs several judge variants (no
 * rubrics, rubric files) on the same items and prints the paper's position-bias table.
 * Variants come from `--rubrics SPEC` (repeatable; SPEC = FILE, NAME=FILE or `none`) and
 * `--no-rubrics` (= a `none` variant), kept in the order given. Logic lives in src/eval/.
 */
import { appendFile, mkdir, writeFile } from "node:fs/promises";
import { basename, extname, join, resolve } from "node:path";
import type { Command } from "commander";
import { displayPath } from "../../config/load.js";
import { DATASET_FORMATS, type DatasetFormat, loadDataset } from "../../data/benchmarks/index.js";
import { UsageError } from "../../errors.js";
import { compare, compareResults, formatComparisonTable } from "../../eval/compare.js";
import { ALL_ORDERS, type EvaluateProgress, evaluate, type PresentationOrder } from "../../eval/evaluate.js";
import { type VariantRubric, writeEvalOutputs } from "../../eval/report.js";
import { createJudge } from "../../judge/judge.js";
import { type LoadedRubric, loadRubric } from "../../rubrics/rubric.js";
import { openVlm } from "../../vlm/client.js";
import { UsageMeter } from "../../vlm/usage.js";
import { onInterrupt } from "../interrupt.js";
import { addConfigOptions, type ConfigOptions, resolveConfigFromOptions } from "../options.js";
import { countProgress } from "../progress.js";

interface EvalFlags extends ConfigOptions {
  dataset: string;
  format?: string;
  orders: string;
  out?: string;
  skipBad?: boolean;
  json?: boolean;
  compare?: boolean;
  limit?: string;
  imageRoot?: string;
  seed: string;
  resamples: string;
  concurrency?: string;
  progress?: boolean;
}

/** A rubric variant as given on the command line, before loading. */
type VariantSpec = { name: string | null; file: string | null };

function parseSpec(spec: string): VariantSpec {
  if (spec === "none") return { name: null, file: null };
  const eq = spec.indexOf("=");
  // NAME=FILE, unless the part before "=" looks like a path.
  if (eq > 0 && !spec.slice(0, eq).includes("/")) {
    const file = spec.slice(eq + 1);
    return { name: spec.slice(0, eq), file: file === "none" ? null : file };
  }
  return { name: null, file: spec };
}

function parseOrders(value: string): PresentationOrder[] {
  const orders = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = orders.filter((o) => !ALL_ORDERS.includes(o as PresentationOrder));
  if (orders.length === 0 || bad.length > 0 || new Set(orders).size !== orders.length) {
    throw new UsageError(`--orders ${value}: expected a comma list of forward and/or reverse`, {
      hint: "the paper's table needs both: --orders forward,reverse",
    });
  }
  return orders as PresentationOrder[];
}

function positiveInt(flag: string, value: string | undefined, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`${flag} must be an integer >= ${min}, got "${value}"`);
  return n;
}

async function runEval(flags: EvalFlags, specs: VariantSpec[]): Promise<void> {
  if (flags.format !== undefined && !(DATASET_FORMATS as readonly string[]).includes(flags.format)) {
    throw new UsageError(`--format ${flags.format}: expected one of ${DATASET_FORMATS.join(", ")}`);
  }
  const orders = parseOrders(flags.orders);
  const limit = positiveInt("--limit", flags.limit);
  const seed = positiveInt("--seed", flags.seed, 0) ?? 0;
  const resamples = positiveInt("--resamples", flags.resamples) ?? 1000;
  const { config } = await resolveConfigFromOptions(flags);
  const concurrency = positiveInt("--concurrency", flags.concurrency) ?? config.judge.concurrency;

  // 1. the variants: explicit specs, else the config's rubric (and, with --compare, direct first).
  let wanted = specs;
  if (wanted.length === 0) {
    const file = config.judge.rubric_file;
    if (flags.compare) {
      if (!file) {
        throw new UsageError("--compare needs at least two variants", {
          hint: "e.g. --no-rubrics --rubrics rubric.yaml, or set judge.rubric_file in the config",
        });
      }
      wanted = [
        { name: null, file: null },
        { name: null, file },
      ];
    } else wanted = [{ name: null, file: file ?? null }];
  }
  if (flags.compare && wanted.length < 2) {
    throw new UsageError("--compare needs at least two variants (--rubrics / --no-rubrics)");
  }
  if (!flags.compare && wanted.length > 1) {
    throw new UsageError(`${wanted.length} rubric variants given without --compare`, {
      hint: "add --compare to evaluate them side by side, or keep one --rubrics",
    });
  }
  const variants: { name: string; rubric: LoadedRubric | null }[] = [];
  for (const spec of wanted) {
    const rubric = spec.file ? await loadRubric(resolve(spec.file)) : null;
    const name = spec.name ?? (spec.file ? `+${basename(spec.file, extname(spec.file))}` : "direct");
    if (variants.some((v) => v.name === name)) {
      throw new UsageError(`two variants are named "${name}"`, { hint: "name them: --rubrics NAME=FILE" });
    }
    variants.push({ name, rubric });
  }

  // 2. the items, checked before anything is paid for.
  const datasetFile = resolve(flags.dataset);
  const data = await loadDataset(datasetFile, (flags.format as DatasetFormat | undefined) ?? null, {
    ...(flags.skipBad ? { skipBad: true } : {}),
    ...(flags.imageRoot ? { imageRoot: flags.imageRoot } : {}),
    ...(limit !== undefined ? { limit } : {}),
    // Images embedded in parquet shards are written once beside the verdict cache.
    ...(config.judge.cache_dir ? { imageCacheDir: join(config.judge.cache_dir, "images") } : {}),
  });
  const format = data.format;
  if (data.pairs.length === 0) {
    throw new UsageError(`${displayPath(datasetFile)}: no usable items`, {
      hint: `${data.skipped.length} skipped, ${data.excluded.length} excluded; check --format`,
    });
  }

  // 3. output folder; verdicts are appended as they land so an interrupted run keeps them.
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const out = resolve(flags.out ?? join(config.run.output_dir, `eval-${stamp}`));
  await mkdir(out, { recursive: true });
  const stream = join(out, "verdicts.jsonl");
  await writeFile(stream, "");

  const meter = new UsageMeter({ price: config.vlm?.price ?? null, budget: config.judge.budget });
  const opened = await openVlm(config, { meter });
  const interrupt = onInterrupt();
  const bar = countProgress("eval", { enabled: flags.progress !== false && !flags.json });
  let label = "";
  const shared = {
    pairs: data.pairs,
    orders,
    concurrency,
    signal: interrupt.signal,
    bootstrap: { seed, resamples },
    price: opened.config.price,
    ...(flags.skipBad ? { skipBad: true } : {}),
    datasetFile: displayPath(datasetFile),
    onProgress: (p: EvaluateProgress) =>
      bar.update(p.done, p.total, [`accuracy ${(100 * p.accuracy).toFixed(1)}%`, label]),
    onJudgement: (record: object) => appendFile(stream, `${JSON.stringify(record)}\n`),
  };
  const judges = variants.map((v) => ({
    name: v.name,
    judge: createJudge({
      vlm: opened.client,
      config: config.judge,
      image: opened.config.image,
      rubric: v.rubric ? { text: v.rubric.text, hash: v.rubric.hash } : null,
      meter,
    }),
  }));
  let comparison: Awaited<ReturnType<typeof compare>>;
  try {
    if (judges.length > 1) {
      comparison = await compare({
        ...shared,
        variants: judges,
        onVariant: (name) => {
          label = name;
        },
      });
    } else {
      const only = judges[0] as (typeof judges)[number];
      label = only.name;
      const result = await evaluate({ ...shared, judge: only.judge, variant: only.name });
      comparison = compareResults([{ name: only.name, result }], { seed, resamples });
    }
  } catch (error) {
    throw interrupt.explain(
      error,
      "evaluation interrupted",
      `verdicts so far are in ${displayPath(stream)}; rerun the same command: cached verdicts are reused`,
    );
  } finally {
    bar.done();
    interrupt.release();
    await opened.close();
  }

  // 4. outputs: results.json, verdicts.jsonl (rewritten in item order), report.html.
  const results = comparison.rows.map((r) => ({
    ...r.result,
    skipped: [...data.skipped, ...r.result.skipped],
    excluded: [...data.excluded, ...r.result.excluded],
  }));
  const rubrics: Record<string, VariantRubric | null> = {};
  for (const v of variants) {
    rubrics[v.name] = v.rubric
      ? { file: displayPath(v.rubric.file), text: v.rubric.text, hash: v.rubric.hash }
      : null;
  }
  const written = await writeEvalOutputs(out, {
    results,
    comparison: judges.length > 1 ? comparison : null,
    rubrics,
    dataset: { file: displayPath(datasetFile), format, notes: data.notes ?? {} },
  });
  if (flags.json) {
    process.stdout.write(
      `${JSON.stringify({ out, results: written.results, report: written.html, table: comparison.rows.map((r) => ({ name: r.name, summary: r.result.summary, delta: r.delta, test: r.test })) }, null, 2)}\n`,
    );
    return;
  }
  const s = results[0];
  process.stdout.write(
    `${formatComparisonTable({ ...comparison, rows: comparison.rows.map((r, i) => ({ ...r, result: results[i] ?? r.result })) })}\n`,
  );
  process.stdout.write(
    `\nskipped ${s?.skipped.length ?? 0} bad items, excluded ${s?.excluded.length ?? 0} tie labels · judge calls ${results.reduce((a, r) => a + r.usage.calls, 0)}, cache hits ${results.reduce((a, r) => a + r.usage.cacheHits, 0)}, tokens ${results.reduce((a, r) => a + r.usage.totalTokens, 0)}, cost ${results.reduce((a, r) => a + r.usage.cost, 0).toFixed(4)}\n`,
  );
  for (const r of results) {
    const subsets = [["all", r.summary] as const, ...Object.entries(r.categories)];
    for (const [name, sum] of subsets) {
      const p = sum.pairwise;
      if (!p) continue;
      const pc = (x: number) => (Number.isNaN(x) ? "–" : `${(100 * x).toFixed(1)}%`);
      process.stdout.write(
        `${r.variant} ${name}: per comparison ${pc(p.comparisonAccuracy)} (${p.comparisons}) · per group ${pc(p.groupAccuracy)} (${p.groups} groups) · inconsistent groups ${p.inconsistentGroups}\n`,
      );
    }
  }
  for (const [what, n] of Object.entries(data.notes ?? {}))
    if (n > 0) process.stdout.write(`${what}: ${n}\n`);
  process.stdout.write(`report: ${displayPath(written.html)}\nresults: ${displayPath(written.results)}\n`);
}

export function register(program: Command): void {
  // --rubrics and --no-rubrics build one ordered variant list, so their order on the line is kept.
  let specs: VariantSpec[] = [];
  const cmd = addConfigOptions(
    program
      .command("eval")
      .description("preference accuracy of a judge vs human labels, in both presentation orders")
      .requiredOption(
        "-d, --dataset <path>",
        "labelled pairs: a JSON/JSONL file, a parquet shard, a folder of shards or a dataset root",
      )
      .option("-f, --format <format>", `dataset layout (default: detected): ${DATASET_FORMATS.join(" | ")}`)
      .option("--rubrics <spec>", "rubric variant: FILE, NAME=FILE or none (repeatable with --compare)")
      .option("--no-rubrics", "a variant judging without rubrics (the direct baseline)")
      .option("--compare", "evaluate every variant on the same items and print the position-bias table")
      .option("--orders <list>", "presentation orders to judge", "forward,reverse")
      .option("-o, --out <dir>", "output folder (default <run.output_dir>/eval-<time>)")
      .option("--skip-bad", "count bad items (missing field or image) as skipped instead of failing")
      .option("--limit <n>", "evaluate only the first n usable items")
      .option("--image-root <dir>", "folder image paths are relative to (default: the dataset's folder)")
      .option("--seed <n>", "bootstrap seed", "0")
      .option("--resamples <n>", "bootstrap resamples", "1000")
      .option("--concurrency <n>", "judgements in flight (default: judge.concurrency)")
      .option("--json", "print the summary as JSON on stdout")
      .option("--no-progress", "no progress bar on stderr"),
  );
  cmd.on("option:rubrics", (value: string) => {
    specs.push(parseSpec(value));
  });
  cmd.on("option:no-rubrics", () => {
    specs.push({ name: null, file: null });
  });
  cmd.action(async (flags: EvalFlags) => {
    const given = specs;
    specs = [];
    await runEval(flags, given);
  });
}

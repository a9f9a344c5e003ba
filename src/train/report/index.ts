/**
 * A run's report.html: the page a researcher opens after a run. Self-contained (Chart.js, data and
 * images inline), so it can be copied off a cluster and opened anywhere. It shows whether the
 * policy learns (win rate over the base at each eval point, judge outcomes and agreement), how the
 * optimisation behaves (KL, clip fraction, ratio, policy loss, gradient norm), where time and money
 * go, the samples over training, verdict examples, and the setup that produced them.
 */
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { basename } from "node:path";
import sharp from "sharp";
import { formatConfig } from "../../config/dump.js";
import type { Config } from "../../config/schema.js";
import { thumbnail } from "../../eval/report.js";
import { type LoadedRubric, renderRubricMarkdown } from "../../rubrics/rubric.js";
import type { RunPaths } from "../run-dir.js";
import { chartGroups } from "./charts.js";
import { loadRunData, type RunData } from "./data.js";
import { renderTrainReport } from "./render.js";
import { verdictCards } from "./verdicts.js";

export interface ReportInputs {
  config: Config;
  rubric: LoadedRubric | null;
  /** Win rate of the trained LoRA over the base model on held-out prompts, when measured (the demo). */
  winrate?: { rate: number; low: number; high: number; pairs: number } | null;
  /** Other runs drawn on the same charts, e.g. the demo's control run. */
  overlays?: Array<{ label: string; paths: RunPaths }>;
  /** This run's name on overlaid charts (default "run"). */
  label?: string;
  /** Trusted HTML placed before the charts (the demo's summary). */
  intro?: string;
  title?: string;
  /** Where to write the page (default `paths.report`). */
  out?: string;
}

/** Largest side of an embedded image; bigger ones become JPEG thumbnails. */
const IMAGE_SIDE = 256;

export async function writeTrainReport(paths: RunPaths, inputs: ReportInputs): Promise<string> {
  const runs: RunData[] = [await loadRunData(paths, inputs.label ?? "run")];
  for (const overlay of inputs.overlays ?? []) runs.push(await loadRunData(overlay.paths, overlay.label));
  const main = runs[0] as RunData;

  const ids = new Map<string, string>();
  const img = (path: string): string | null => {
    if (!existsSync(path)) return null;
    let id = ids.get(path);
    if (id === undefined) {
      id = `i${ids.size}`;
      ids.set(path, id);
    }
    return id;
  };
  const cards = verdictCards(main, img);
  // The grids' tiles are registered while rendering; render once to collect them, then embed.
  const view = {
    title: inputs.title ?? `autorubric run ${basename(paths.dir)}`,
    facts: facts(main, inputs),
    intro: inputs.intro ?? "",
    groups: chartGroups(runs),
    grids: main.grids,
    cards,
    configYaml: formatConfig(inputs.config, "yaml"),
    rubric: inputs.rubric
      ? {
          file: inputs.rubric.file,
          hash: inputs.rubric.hash,
          markdown: renderRubricMarkdown(inputs.rubric.rubric),
        }
      : null,
    environment: environment(main.manifest),
    img,
    images: {} as Record<string, string>,
  };
  renderTrainReport(view);
  for (const [path, id] of ids) {
    const url = await embed(path);
    if (url) view.images[id] = url;
  }
  const out = inputs.out ?? paths.report;
  await writeFile(out, renderTrainReport(view));
  return out;
}

/** Small PNGs (the tiny model's 64 px samples) as they are; anything larger as a JPEG thumbnail. */
async function embed(path: string): Promise<string | null> {
  try {
    const meta = await sharp(path).metadata();
    if (meta.format === "png" && (meta.width ?? 0) <= IMAGE_SIDE && (meta.height ?? 0) <= IMAGE_SIDE) {
      return `data:image/png;base64,${(await readFile(path)).toString("base64")}`;
    }
  } catch {
    return null;
  }
  return thumbnail(path, IMAGE_SIDE);
}

function facts(run: RunData, inputs: ReportInputs): Array<[string, string]> {
  const { config } = inputs;
  const train = config.train;
  const last = run.metrics.at(-1) ?? null;
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const out: Array<[string, string]> = [
    ["model", train ? `${train.model.family} (${train.model.path})` : "–"],
    [
      "judge",
      `${config.vlm ? `${config.vlm.provider}: ${config.vlm.model}` : "injected judge"}, order ${config.judge.order}`,
    ],
    ["updates", `${String(last?.step ?? 0)} of ${train?.max_steps ?? "–"}`],
  ];
  if (train) {
    out.push(
      ["LoRA / optimiser", `rank ${train.lora.rank}, alpha ${train.lora.alpha}, lr ${train.optim.lr}`],
      [
        "RPO",
        `clip ${train.rpo.clip_range}, KL beta ${train.rpo.kl_beta} (${train.rpo.kl_estimator}), rewards ${train.rpo.win_reward} / ${train.rpo.lose_reward}, pipeline depth ${train.pipeline.depth}`,
      ],
    );
  }
  const lastEval = run.evals.at(-1);
  if (lastEval) {
    out.push([
      "win rate over base (eval prompts)",
      `${pct(lastEval.rate)} [${pct(lastEval.interval.low)}, ${pct(lastEval.interval.high)}] at update ${lastEval.update}, ${lastEval.prompts} prompts x 2 orders`,
    ]);
  }
  out.push(["training health", healthFacts(run)]);
  if (inputs.winrate) {
    const w = inputs.winrate;
    out.push([
      "win rate over base (held-out prompts)",
      `${pct(w.rate)} [${pct(w.low)}, ${pct(w.high)}] over ${w.pairs} prompts`,
    ]);
  }
  const totals = last?.judge as Record<string, number> | undefined;
  if (totals) {
    out.push([
      "judged pairs",
      `${totals.completed ?? 0}: ${totals.decided ?? 0} decided, ${totals.tie ?? 0} tie, ${totals.invalid ?? 0} invalid, ${totals.failed ?? 0} failed`,
    ]);
  }
  if (typeof last?.vlm_calls === "number") {
    out.push([
      "VLM usage",
      `${last.vlm_calls} calls, ${String(last.vlm_tokens ?? 0)} tokens, cost ${Number(last.vlm_cost ?? 0).toFixed(4)}`,
    ]);
  }
  return out;
}

/** Each health flag raised during the run, at its first update, with the eval point's reason. */
function healthFacts(run: RunData): string {
  const first = new Map<string, number>();
  for (const row of run.metrics) {
    for (const flag of (row.health as { flags?: string[] } | undefined)?.flags ?? []) {
      if (!first.has(flag)) first.set(flag, Number(row.step));
    }
  }
  const reasons = new Map<string, string>();
  for (const e of run.evals) {
    for (const check of e.health?.checks ?? []) {
      if (!check.raised) continue;
      if (!first.has(check.flag) || (first.get(check.flag) ?? 0) > e.update) first.set(check.flag, e.update);
      if (!reasons.has(check.flag)) reasons.set(check.flag, check.reason);
    }
  }
  if (first.size === 0) return "no flag raised";
  return [...first]
    .map(
      ([flag, update]) =>
        `${flag} from update ${update}${reasons.has(flag) ? ` (${reasons.get(flag)})` : ""}`,
    )
    .join("; ");
}

function environment(manifest: Record<string, unknown> | null): Array<[string, string]> {
  if (!manifest) return [];
  const python = manifest.python as
    | {
        path?: string;
        versions?: { python?: string; packages?: Record<string, string | null>; gpus?: string[] };
      }
    | undefined;
  const git = manifest.git as { commit?: string | null; dirty?: boolean | null } | undefined;
  const packages = Object.entries(python?.versions?.packages ?? {})
    .map(([name, version]) => `${name} ${version ?? "missing"}`)
    .join(", ");
  return [
    ["autorubric", String(manifest.autorubric ?? "–")],
    [
      "git commit",
      git?.commit ? `${git.commit}${git.dirty ? " (uncommitted changes)" : ""}` : "not a git checkout",
    ],
    ["node", String(manifest.node ?? "–")],
    ["python", `${python?.versions?.python ?? "–"} (${python?.path ?? "–"})`],
    ["packages", packages || "–"],
    ["GPUs", python?.versions?.gpus?.join("; ") || "none"],
    ["host", String(manifest.host ?? "–")],
    ["seeds", JSON.stringify(manifest.seeds ?? {})],
    [
      "created",
      `${String(manifest.created ?? "–")}${Array.isArray(manifest.resumed) && manifest.resumed.length > 0 ? `, resumed ${manifest.resumed.length} time(s)` : ""}`,
    ],
  ];
}

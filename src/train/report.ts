/**
 * The run's report.html: self-contained (inline SVG curves, grids embedded as data URLs), so it can
 * be copied off a cluster and opened anywhere. Curves: reward, order agreement, closed-form KL to
 * the reference, loss, clip fraction; then the evaluation grids (base vs current) and the rubric the
 * judge used.
 */
import { existsSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Config } from "../config/schema.js";
import type { LoadedRubric } from "../rubrics/rubric.js";
import { escapeHtml } from "../util/html.js";
import { type RunPaths, readMetrics } from "./run-dir.js";

/** Series plotted, in order: [metrics key or derived name, title]. */
const CURVES: ReadonlyArray<[string, string]> = [
  ["reward_mean", "Mean reward"],
  ["agreement", "Order agreement (swap)"],
  ["kl_ref", "KL to reference (closed form)"],
  ["loss", "Loss"],
  ["clip_frac", "Clip fraction"],
  ["grad_norm", "Gradient norm"],
];

export interface ReportInputs {
  config: Config;
  rubric: LoadedRubric | null;
  /** Win rate of the trained LoRA over the base model, when measured. */
  winrate?: { rate: number; low: number; high: number; pairs: number } | null;
}

export async function writeTrainReport(paths: RunPaths, inputs: ReportInputs): Promise<string> {
  const rows = await readMetrics(paths);
  const series = CURVES.map(([key, title]) => ({ title, points: seriesOf(rows, key) })).filter(
    (s) => s.points.length > 0,
  );
  const grids = await gridImages(paths.grids);
  const html = renderTrainReport({
    title: `autorubric run ${paths.dir.split("/").pop() ?? ""}`,
    config: inputs.config,
    series,
    grids,
    rubricText: inputs.rubric?.text ?? null,
    winrate: inputs.winrate ?? null,
    last: rows.at(-1) ?? null,
  });
  await writeFile(paths.report, html);
  return paths.report;
}

export function seriesOf(rows: ReadonlyArray<Record<string, unknown>>, key: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const row of rows) {
    const step = row.step;
    let value: unknown = row[key];
    if (key === "agreement" && value === undefined) {
      const judge = row.judge as { agreed?: number; withAgreement?: number } | undefined;
      value = judge?.withAgreement ? (judge.agreed ?? 0) / judge.withAgreement : undefined;
    }
    if (typeof step === "number" && typeof value === "number" && Number.isFinite(value))
      out.push([step, value]);
  }
  return out;
}

async function gridImages(dir: string): Promise<Array<{ name: string; dataUrl: string }>> {
  if (!existsSync(dir)) return [];
  const names = (await readdir(dir)).filter((n) => n.endsWith(".png")).sort();
  return Promise.all(
    names.map(async (name) => ({
      name,
      dataUrl: `data:image/png;base64,${(await readFile(join(dir, name))).toString("base64")}`,
    })),
  );
}

/** A small line chart as inline SVG. */
export function svgLineChart(points: ReadonlyArray<[number, number]>, width = 360, height = 160): string {
  if (points.length === 0) return "";
  const pad = 28;
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const sx = (x: number) => pad + ((x - x0) / (x1 - x0 || 1)) * (width - 2 * pad);
  const sy = (y: number) => height - pad - ((y - y0) / (y1 - y0)) * (height - 2 * pad);
  const path = points
    .map(([x, y], i) => `${i === 0 ? "M" : "L"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
    .join(" ");
  return `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img">
<rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>
<line x1="${pad}" y1="${height - pad}" x2="${width - pad}" y2="${height - pad}" stroke="#999"/>
<line x1="${pad}" y1="${pad}" x2="${pad}" y2="${height - pad}" stroke="#999"/>
<text x="2" y="${pad}" font-size="10">${y1.toPrecision(3)}</text>
<text x="2" y="${height - pad}" font-size="10">${y0.toPrecision(3)}</text>
<text x="${pad}" y="${height - 8}" font-size="10">${x0}</text>
<text x="${width - pad - 10}" y="${height - 8}" font-size="10">${x1}</text>
<path d="${path}" fill="none" stroke="#2563eb" stroke-width="1.5"/>
</svg>`;
}

interface RenderInputs {
  title: string;
  config: Config;
  series: Array<{ title: string; points: Array<[number, number]> }>;
  grids: Array<{ name: string; dataUrl: string }>;
  rubricText: string | null;
  winrate: ReportInputs["winrate"];
  last: Record<string, unknown> | null;
}

export function renderTrainReport(r: RenderInputs): string {
  const train = r.config.train;
  const facts: Array<[string, string]> = [
    ["model", train ? `${train.model.family} (${train.model.path})` : "-"],
    ["judge", r.config.vlm ? `${r.config.vlm.provider}: ${r.config.vlm.model}` : "-"],
    ["updates", String(r.last?.step ?? 0)],
    ["LoRA / lr", train ? `rank ${train.lora.rank}, alpha ${train.lora.alpha}, lr ${train.optim.lr}` : "-"],
    [
      "sampler",
      train ? `${train.sampler.steps} steps, eta ${train.sampler.eta}, shift ${train.sampler.shift}` : "-",
    ],
    [
      "RPO",
      train
        ? `clip ${train.rpo.clip_range}, KL beta ${train.rpo.kl_beta} (${train.rpo.kl_estimator}), pipeline depth ${train.pipeline.depth}`
        : "-",
    ],
  ];
  if (r.winrate) {
    facts.push([
      "win rate vs base",
      `${(100 * r.winrate.rate).toFixed(1)}% [${(100 * r.winrate.low).toFixed(1)}, ${(100 * r.winrate.high).toFixed(1)}] over ${r.winrate.pairs} pairs`,
    ]);
  }
  const charts = r.series
    .map((s) => `<figure><figcaption>${escapeHtml(s.title)}</figcaption>${svgLineChart(s.points)}</figure>`)
    .join("\n");
  const grids = r.grids
    .map(
      (g) =>
        `<figure class="grid"><figcaption>${escapeHtml(g.name)}</figcaption><img src="${g.dataUrl}" alt="${escapeHtml(g.name)}"></figure>`,
    )
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(r.title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px;color:#111}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:1rem}figure{margin:0}figcaption{font-weight:600;margin-bottom:4px}
.grid img{image-rendering:pixelated;max-width:100%;border:1px solid #ccc}
pre{background:#f6f6f6;padding:1rem;white-space:pre-wrap}
</style></head><body>
<h1>${escapeHtml(r.title)}</h1>
<table>${facts.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join("")}</table>
<h2>Curves</h2><div class="charts">${charts || "<p>No metrics yet.</p>"}</div>
<h2>Evaluation grids (left: base model, right: current LoRA; one row per prompt, same seeds)</h2>
${grids || "<p>No evaluation grids (set train.eval_every and train.eval_prompts).</p>"}
<h2>Rubric used by the judge</h2>
<pre>${escapeHtml(r.rubricText ?? "(none: the judge ran without a rubric)")}</pre>
</body></html>
`;
}

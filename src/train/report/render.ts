/**
 * The report's HTML (pure): header facts, the chart groups, the samples over training, the verdict
 * examples with their filters, and the setup (config, rubric with provenance, environment). All run
 * text is escaped; images are ids into the page's image table.
 */
import { escapeHtml } from "../../util/html.js";
import type { ChartGroup } from "./charts.js";
import type { GridPoint } from "./data.js";
import { chartJsSource, jsonForScript, PAGE_SCRIPT, PAGE_STYLE } from "./page.js";
import type { VerdictCard } from "./verdicts.js";

export interface ReportView {
  title: string;
  facts: Array<[string, string]>;
  /** Trusted HTML placed before the charts (the demo's summary). */
  intro: string;
  groups: ChartGroup[];
  grids: GridPoint[];
  cards: VerdictCard[];
  configYaml: string;
  rubric: { file: string; hash: string; markdown: string } | null;
  environment: Array<[string, string]>;
  /** Image id by path (see `img`), and the data URL of each id. */
  img: (path: string) => string | null;
  images: Record<string, string>;
}

/** Most eval columns in the samples table: evenly spaced, the last one always shown. */
const MAX_GRID_COLUMNS = 8;

export function renderTrainReport(view: ReportView): string {
  const charts = view.groups.flatMap((g) => g.charts);
  const nav = [
    ...view.groups.map((g) => [g.id, g.title]),
    ["samples", "Samples"],
    ["verdicts", "Verdicts"],
    ["setup", "Setup"],
  ]
    .map(([id, title]) => `<a href="#${id}">${escapeHtml(title)}</a>`)
    .join("");
  const groups = view.groups
    .map(
      (g) =>
        `<h2 id="${g.id}">${escapeHtml(g.title)}</h2><div class="charts">${g.charts
          .map(
            (c) =>
              `<div class="chart"><h3>${escapeHtml(c.title)}</h3><p>${escapeHtml(c.note)}</p><div class="canvas"><canvas id="chart-${c.id}" role="img" aria-label="${escapeHtml(c.title)}"></canvas></div></div>`,
          )
          .join("")}</div>`,
    )
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<link rel="icon" href="data:,"><title>${escapeHtml(view.title)}</title><style>${PAGE_STYLE}</style></head><body>
<h1>${escapeHtml(view.title)}</h1>
<nav>${nav}</nav>
<table class="facts">${view.facts.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join("")}</table>
${view.intro}
${
  charts.length > 0
    ? `<div class="controls"><label>Smoothing <input id="smoothing" type="range" min="0" max="0.99" step="0.01" value="0"> <span id="smoothing-value">0.00</span></label><span>Hover a chart for values; click a legend entry to hide a series.</span></div>`
    : "<p>No metrics yet: the run stopped before its first update.</p>"
}
${groups}
<h2 id="samples">Samples over training</h2>
${samplesTable(view.grids, view.img)}
<h2 id="verdicts">Verdicts</h2>
${verdictSection(view.cards)}
<h2 id="setup">Setup</h2>
${setupSection(view)}
<script>${chartJsSource()}</script>
<script type="application/json" id="report-data">${jsonForScript({ charts, images: view.images })}</script>
<script>${PAGE_SCRIPT}</script>
</body></html>
`;
}

function samplesTable(grids: readonly GridPoint[], img: (path: string) => string | null): string {
  const first = grids[0];
  if (!first) {
    return "<p>No eval grids: set train.eval_every and train.eval_prompts to see the policy's samples over training.</p>";
  }
  const step = Math.max(1, Math.ceil(grids.length / MAX_GRID_COLUMNS));
  const shown = grids.filter((_, i) => i % step === 0 || i === grids.length - 1);
  const cell = (path: string | undefined) => {
    const id = path ? img(path) : null;
    return id ? `<td><img data-img="${id}" alt=""></td>` : "<td>(missing)</td>";
  };
  const rows = first.prompts
    .map(
      (prompt, i) =>
        `<tr><td class="prompt">${escapeHtml(prompt)}</td>${cell(first.base[i])}${shown.map((g) => cell(g.current[i])).join("")}</tr>`,
    )
    .join("");
  return `<p>Each row is one eval prompt, sampled with the same seed every time: the base model (the LoRA scaled to zero), then the policy at each eval point.</p>
<table class="grid-table"><tr><th>prompt</th><th>base</th>${shown.map((g) => `<th>update ${g.update}</th>`).join("")}</tr>${rows}</table>`;
}

function verdictSection(cards: readonly VerdictCard[]): string {
  if (cards.length === 0) return "<p>No verdicts recorded.</p>";
  const updates = [...new Set(cards.map((c) => c.update))].sort((a, b) => a - b);
  const select = (name: string, label: string, options: Array<[string, string]>) =>
    `<label>${label} <select data-filter="${name}"><option value="all">all</option>${options
      .map(([v, t]) => `<option value="${escapeHtml(v)}">${escapeHtml(t)}</option>`)
      .join("")}</select></label>`;
  const controls = `<div class="controls">${select("source", "Source", [
    ["eval", "eval: current vs base"],
    ["training", "training pairs"],
  ])}${select("outcome", "Outcome", [
    ["decided", "decided"],
    ["tie", "tie"],
    ["invalid", "invalid"],
    ["failed", "failed"],
    ["split", "orders disagree"],
  ])}${select(
    "update",
    "Update",
    updates.map((u) => [String(u), String(u)]),
  )}<span><span id="verdicts-shown">${cards.length}</span> of ${cards.length} shown</span></div>`;
  const body = cards
    .map((c) => {
      const outcome = [...new Set(c.outcomes), ...(c.split ? ["split"] : [])].join(" ");
      const figures = c.images
        .map(
          (im) =>
            `<figure>${im.img ? `<img data-img="${im.img}" alt="${escapeHtml(im.caption)}"${im.win ? ' class="win"' : ""}>` : "<div>(image pruned)</div>"}<figcaption>${escapeHtml(im.caption)}${im.win ? " ✓ preferred" : ""}</figcaption></figure>`,
        )
        .join("");
      const verdicts = c.verdicts
        .map(
          (v) =>
            `<div><strong>${escapeHtml(v.title)}</strong>${v.reason ? `<div class="reason">${escapeHtml(v.reason)}</div>` : ""}</div>`,
        )
        .join("");
      const tags = [...new Set(c.outcomes)].map((o) => `<span class="tag ${o}">${o}</span>`).join(" ");
      return `<div class="card" data-source="${c.source}" data-outcome="${outcome}" data-update="${c.update}"><div class="meta">${escapeHtml(c.meta)} ${tags}</div><div class="prompt">${escapeHtml(c.prompt)}</div><div class="pair">${figures}</div>${verdicts}</div>`;
    })
    .join("\n");
  return `${controls}<div class="cards">${body}</div>`;
}

function setupSection(view: ReportView): string {
  const rubric = view.rubric
    ? `<p><code>${escapeHtml(view.rubric.file)}</code> · sha256 <code>${escapeHtml(view.rubric.hash)}</code></p><pre>${escapeHtml(view.rubric.markdown)}</pre>`
    : "<p>No rubric: the judge ran without one.</p>";
  const env = view.environment
    .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`)
    .join("");
  return `<h3>Rubric the judge used</h3>${rubric}
<h3>Environment</h3>${env ? `<table class="facts">${env}</table>` : "<p>No manifest.json.</p>"}
<details><summary>Resolved config</summary><pre>${escapeHtml(view.configYaml)}</pre></details>`;
}

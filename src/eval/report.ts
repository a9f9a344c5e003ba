/**
 * Evaluation outputs: `results.json` (machine-readable), `verdicts.jsonl` (one line per judgement)
 * and `report.html`, a single self-contained page (inline CSS and JS, thumbnails as small JPEG
 * data URLs made with sharp) with a summary table and one card per item, filterable to
 * disagreements with the human label and order flips. All dataset text is HTML-escaped.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { isUrl } from "../data/records.js";
import { escapeHtml } from "../util/html.js";
import type { ComparisonResult } from "./compare.js";
import type { AccuracySummary, EvaluationResult, ItemResult, OrderOutcome } from "./evaluate.js";

/** The rubric a variant judged under (null: direct judging). */
export interface VariantRubric {
  file: string | null;
  text: string;
  hash: string;
}

export interface ReportInput {
  /** One result per judge variant, evaluated on the same dataset. */
  results: readonly EvaluationResult[];
  comparison?: ComparisonResult | null;
  /** Rubric per variant name. */
  rubrics?: Record<string, VariantRubric | null>;
  title?: string;
  /** Dataset file and format, shown in the header, with the reader's counts (e.g. multi-image responses). */
  dataset?: { file: string; format: string; notes?: Record<string, number> };
  /** Longest thumbnail side in pixels (default 192). */
  thumbSize?: number;
}

export interface WrittenOutputs {
  html: string;
  results: string;
  verdicts: string;
}

/** A small JPEG data URL of a local image, or null (remote, unreadable). */
export async function thumbnail(path: string, size = 192): Promise<string | null> {
  if (isUrl(path)) return null;
  try {
    const buf = await sharp(path)
      .rotate()
      .resize(size, size, { fit: "inside", withoutEnlargement: true })
      .flatten({ background: "#ffffff" })
      .jpeg({ quality: 70 })
      .toBuffer();
    return `data:image/jpeg;base64,${buf.toString("base64")}`;
  } catch {
    return null;
  }
}

const pct = (x: number | null | undefined): string =>
  x === null || x === undefined || Number.isNaN(x) ? "–" : `${(100 * x).toFixed(1)}`;

function summaryRow(name: string, s: AccuracySummary, r?: EvaluationResult): string {
  const fwd = s.byOrder.find((o) => o.order === "forward");
  const rev = s.byOrder.find((o) => o.order === "reverse");
  const cells = [
    escapeHtml(name),
    String(s.items),
    fwd ? `${pct(fwd.accuracy)} <small>[${pct(fwd.ci.low)}, ${pct(fwd.ci.high)}]</small>` : "–",
    rev ? `${pct(rev.accuracy)} <small>[${pct(rev.ci.low)}, ${pct(rev.ci.high)}]</small>` : "–",
    `<b>${pct(s.accuracy)}</b> <small>[${pct(s.ci.low)}, ${pct(s.ci.high)}]</small>`,
    s.gap === null ? "–" : pct(s.gap),
    pct(s.tieRate),
    pct(s.invalidRate),
    s.flipRate === null ? "–" : pct(s.flipRate),
  ];
  if (r) {
    cells.push(
      String(r.usage.totalTokens),
      r.usage.cost.toFixed(4),
      String(r.usage.cacheHits),
      `${r.skipped.length} / ${r.excluded.length}`,
    );
  }
  return `<tr>${cells.map((c) => `<td>${c}</td>`).join("")}</tr>`;
}

const SUMMARY_HEAD = [
  "Judge",
  "Items",
  "Forward %",
  "Reverse %",
  "Avg % [95% CI]",
  "Gap",
  "Ties %",
  "Invalid %",
  "Flips %",
];

/** Per-comparison and per-group accuracy side by side, overall and per category (subset). */
function pairwiseTable(results: readonly EvaluationResult[]): string {
  const rows: string[] = [];
  for (const r of results) {
    const entries: [string, AccuracySummary][] = [["all", r.summary], ...Object.entries(r.categories)];
    for (const [name, s] of entries) {
      const p = s.pairwise;
      if (!p) continue;
      const cells = [
        escapeHtml(`${r.variant} — ${name}`),
        String(p.comparisons),
        `<b>${pct(p.comparisonAccuracy)}</b>`,
        String(p.groups),
        `<b>${pct(p.groupAccuracy)}</b>`,
        String(p.inconsistentGroups),
      ];
      rows.push(`<tr>${cells.map((c) => `<td>${c}</td>`).join("")}</tr>`);
    }
  }
  if (rows.length === 0) return "";
  return `<h2>Pairwise labels: per comparison and per group</h2>
<p>Per comparison: each human comparison scored on its own, a tie its own outcome (the benchmark's own scoring); counted once per order. Per group: every comparison of the group right, over groups with a consistent order. Inconsistent groups (cyclic labels) enter the per-comparison figure only.</p>
<table><tr><th>Judge — subset</th><th>Comparisons</th><th>Per comparison %</th><th>Groups</th><th>Per group %</th><th>Inconsistent groups</th></tr>${rows.join("")}</table>`;
}

function comparisonText(item: ItemResult): string {
  const letter = (i: number) => String.fromCharCode(65 + i);
  return (item.comparisons ?? []).map((c) => `${letter(c.a)}${c.relation}${letter(c.b)}`).join(", ");
}

function img(src: string | null, path: string, label: string): string {
  const body = src
    ? `<img src="${escapeHtml(src)}" alt="${escapeHtml(label)}">`
    : `<div class="noimg">${isUrl(path) ? `<a href="${escapeHtml(path)}">remote image</a>` : "unreadable"}</div>`;
  return `<figure>${body}<figcaption>${escapeHtml(label)}</figcaption></figure>`;
}

function rankText(rank: readonly number[] | null): string {
  return rank ? `[${rank.join(", ")}]` : "–";
}

function orderLine(o: OrderOutcome): string {
  const cls = o.correct ? "ok" : "bad";
  const what = o.outcome === "decided" ? `rank ${rankText(o.predictedRank)}` : o.outcome;
  const detail = o.error ? ` — ${escapeHtml(o.error)}` : "";
  // The reason quotes positions as shown; ranks are mapped back to the dataset's order.
  const shown = o.permutation.some((p, i) => p !== i)
    ? ` <small>(shown as ${o.permutation.map((p) => `Image ${p + 1}`).join(", ")}; ranks in dataset order)</small>`
    : "";
  return `<div class="order ${cls}"><b>${o.order}</b>${shown}: ${escapeHtml(what)}${o.cached ? " (cached)" : ""}${detail}<div class="reason">${escapeHtml(o.reason)}</div></div>`;
}

async function renderCard(
  id: string,
  perVariant: { name: string; item: ItemResult; rubricHash: string | null }[],
  thumbs: (path: string) => Promise<string | null>,
): Promise<string> {
  const first = perVariant[0]?.item as ItemResult;
  const disagree = perVariant.some((v) => v.item.disagreement);
  const flip = perVariant.some((v) => v.item.orderFlip);
  const figures: string[] = [];
  const sources = first.sourceImages ?? [];
  for (const [i, path] of sources.entries())
    figures.push(img(await thumbs(path), path, sources.length > 1 ? `source ${i + 1}` : "source"));
  for (const [i, path] of first.images.entries()) {
    const rank = first.labelRank?.[i];
    const best = rank === 1 ? " ★ human choice" : "";
    figures.push(
      img(
        await thumbs(path),
        path,
        `Image ${i + 1} (human rank ${rank ?? "none: inconsistent labels"})${best}`,
      ),
    );
  }
  const verdicts = perVariant
    .map(
      (v) =>
        `<div class="variant"><div class="vname">${escapeHtml(v.name)}${v.rubricHash ? ` <small>rubric ${escapeHtml(v.rubricHash.slice(0, 12))}</small>` : " <small>no rubric</small>"}</div>${v.item.orders.map(orderLine).join("")}</div>`,
    )
    .join("");
  const tags = [
    disagree ? '<span class="tag bad">disagrees</span>' : "",
    flip ? '<span class="tag flip">order flip</span>' : "",
  ].join("");
  return `<article class="card" data-disagree="${disagree ? 1 : 0}" data-flip="${flip ? 1 : 0}">
<header><code>${escapeHtml(id)}</code>${first.category ? ` <span class="cat">${escapeHtml(first.category)}</span>` : ""} ${tags}</header>
<p class="prompt">${escapeHtml(first.prompt)}</p>
<p class="label">human label: ${first.labelRank ? rankText(first.labelRank) : "no order (inconsistent pairwise labels)"}${first.comparisons ? ` <small>(comparisons ${escapeHtml(comparisonText(first))}; A = Image 1)</small>` : ""}</p>
<div class="images">${figures.join("")}</div>
<div class="verdicts">${verdicts}</div>
</article>`;
}

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}th{background:#eee}small{color:#666}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.8em;margin:.8em 0}
.card header{margin-bottom:.3em}.prompt{white-space:pre-wrap;margin:.3em 0}.label{color:#555;margin:.2em 0}
.images{display:flex;gap:.6em;flex-wrap:wrap}figure{margin:0;text-align:center}figure img{max-width:192px;max-height:192px;border:1px solid #ccc}
figcaption{font-size:12px;color:#555}.noimg{width:120px;height:80px;border:1px dashed #aaa;display:flex;align-items:center;justify-content:center}
.variant{margin-top:.5em;border-top:1px solid #eee;padding-top:.3em}.vname{font-weight:600}
.order{margin:.2em 0 .2em 1em}.order.ok b{color:#0a7d28}.order.bad b{color:#b3261e}.reason{color:#555;white-space:pre-wrap;margin-left:1em}
.tag{font-size:12px;padding:1px 6px;border-radius:8px;margin-left:.4em}.tag.bad{background:#fde2e1}.tag.flip{background:#fff1c2}
.cat{font-size:12px;background:#e3ecfd;padding:1px 6px;border-radius:8px}pre{white-space:pre-wrap;background:#fff;border:1px solid #ddd;padding:.6em}
#controls{position:sticky;top:0;background:#fafafa;padding:.4em 0;border-bottom:1px solid #ddd}`;

const SCRIPT = `(function(){var sel=document.getElementById("filter");var count=document.getElementById("shown");
function apply(){var mode=sel.value;var cards=document.querySelectorAll(".card");var n=0;
for(var i=0;i<cards.length;i++){var c=cards[i];var show=mode==="all"||(mode==="disagree"&&c.dataset.disagree==="1")||(mode==="flip"&&c.dataset.flip==="1");
c.style.display=show?"":"none";if(show)n++;}count.textContent=String(n);}
sel.addEventListener("change",apply);apply();})();`;

/** Renders the report page. `thumbs` maps an image path to a data URL (null when unavailable). */
export async function renderReportHtml(
  input: ReportInput,
  thumbs: (path: string) => Promise<string | null>,
): Promise<string> {
  const title = input.title ?? "autorubric preference evaluation";
  const results = input.results;
  const rows = results.map((r) => summaryRow(r.variant, r.summary, r)).join("");
  const head = [...SUMMARY_HEAD, "Tokens", "Cost", "Cache hits", "Skipped / excluded"];
  let comparison = "";
  if (input.comparison && input.comparison.rows.length > 1) {
    const cmp = input.comparison.rows
      .slice(1)
      .map(
        (row) =>
          `<tr><td>${escapeHtml(row.name)} vs ${escapeHtml(input.comparison?.rows[0]?.name)}</td><td>${pct(row.delta?.accuracy)}</td><td>${pct(row.delta?.forward)}</td><td>${pct(row.delta?.reverse)}</td><td>${pct(row.delta?.gap)}</td><td>[${pct(row.test?.difference.low)}, ${pct(row.test?.difference.high)}]</td><td>${row.test?.mcnemar.aOnly ?? "–"} / ${row.test?.mcnemar.bOnly ?? "–"}</td><td>${row.test ? row.test.mcnemar.pValue.toPrecision(3) : "–"}${row.test?.significant ? " *" : ""}</td></tr>`,
      )
      .join("");
    comparison = `<h2>Differences from the first row</h2><table><tr><th>Variant</th><th>Δ Avg</th><th>Δ Forward</th><th>Δ Reverse</th><th>Δ Gap</th><th>Δ Avg 95% CI (paired bootstrap)</th><th>baseline-only / variant-only correct</th><th>p (exact McNemar)</th></tr>${cmp}</table>`;
  }
  let categories = "";
  for (const r of results) {
    const names = Object.keys(r.categories);
    if (names.length === 0) continue;
    const catRows = names.map((n) => summaryRow(n, r.categories[n] as AccuracySummary)).join("");
    categories += `<h3>By category — ${escapeHtml(r.variant)}</h3><table><tr>${SUMMARY_HEAD.map((h, i) => `<th>${i === 0 ? "Category" : h}</th>`).join("")}</tr>${catRows}</table>`;
  }
  const rubricBlocks = results
    .map((r) => {
      const rub = input.rubrics?.[r.variant];
      const body = rub
        ? `<p>${escapeHtml(rub.file ?? "(inline)")} <small>sha256 ${escapeHtml(rub.hash)}</small></p><pre>${escapeHtml(rub.text)}</pre>`
        : "<p>no rubric (direct judging)</p>";
      return `<details><summary>Rubric — ${escapeHtml(r.variant)}</summary>${body}</details>`;
    })
    .join("");

  // Cards: one per item, holding every variant's verdicts on it.
  const ids = results[0]?.items.map((it) => it.id) ?? [];
  const byVariant = results.map((r) => new Map(r.items.map((it) => [it.id, it])));
  const cards: string[] = [];
  for (const id of ids) {
    const perVariant = results.flatMap((r, i) => {
      const item = byVariant[i]?.get(id);
      return item ? [{ name: r.variant, item, rubricHash: r.rubricHash }] : [];
    });
    cards.push(await renderCard(id, perVariant, thumbs));
  }
  const notes = Object.entries(input.dataset?.notes ?? {})
    .filter(([, n]) => n > 0)
    .map(([what, n]) => `${escapeHtml(what)}: ${n}`)
    .join("; ");
  const ds = input.dataset
    ? `<p>dataset <code>${escapeHtml(input.dataset.file)}</code> (${escapeHtml(input.dataset.format)})${notes ? ` — ${notes}` : ""}</p>`
    : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<link rel="icon" href="data:,"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><h1>${escapeHtml(title)}</h1>${ds}
<p>Each item is judged in every listed order (forward = as given, reverse = candidates reversed); Avg is the mean over orders. Ties, invalid replies and failed calls count as wrong. Intervals: percentile bootstrap over items.</p>
<h2>Summary</h2><table><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr>${rows}</table>
${pairwiseTable(results)}${comparison}${categories}${rubricBlocks}
<h2>Items</h2>
<div id="controls"><label>Show <select id="filter"><option value="all">all items</option><option value="disagree">disagreements with the human label</option><option value="flip">order flips</option></select></label> — <span id="shown">${cards.length}</span> of ${cards.length}</div>
<main id="cards">${cards.join("\n")}</main>
<script>${SCRIPT}</script></body></html>
`;
}

/** One verdicts.jsonl line per judgement. */
export function verdictLines(results: readonly EvaluationResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    for (const item of r.items) {
      for (const o of item.orders)
        lines.push(JSON.stringify({ variant: r.variant, itemId: item.id, label: item.labelRank, ...o }));
    }
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

/** Writes results.json, verdicts.jsonl and report.html into `outDir` (created if needed). */
export async function writeEvalOutputs(outDir: string, input: ReportInput): Promise<WrittenOutputs> {
  await mkdir(outDir, { recursive: true });
  const size = input.thumbSize ?? 192;
  const cache = new Map<string, Promise<string | null>>();
  const thumbs = (path: string) => {
    let p = cache.get(path);
    if (!p) {
      p = thumbnail(path, size);
      cache.set(path, p);
    }
    return p;
  };
  const paths: WrittenOutputs = {
    html: join(outDir, "report.html"),
    results: join(outDir, "results.json"),
    verdicts: join(outDir, "verdicts.jsonl"),
  };
  const json = {
    format: "autorubric.eval-results",
    version: 1,
    dataset: input.dataset ?? null,
    variants: input.results.map((r) => ({ ...r, rubric: input.rubrics?.[r.variant] ?? null })),
    comparison: input.comparison
      ? {
          alpha: input.comparison.alpha,
          rows: input.comparison.rows.map((row) => ({ name: row.name, delta: row.delta, test: row.test })),
        }
      : null,
  };
  await writeFile(paths.results, `${JSON.stringify(json, null, 2)}\n`);
  await writeFile(paths.verdicts, verdictLines(input.results));
  await writeFile(paths.html, await renderReportHtml(input, thumbs));
  return paths;
}

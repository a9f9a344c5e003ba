/**
 * The report page's own CSS and script, and Chart.js inlined so the page works offline (copied off
 * a cluster, opened from disk). The script reads the JSON block `#report-data`
 * (`{ charts: ChartSpec[], images: {id: dataUrl} }`), draws each chart into `#chart-<id>`, applies
 * the smoothing slider (TensorBoard's debiased exponential moving average) and the verdict filters,
 * and fills every `img[data-img]` from the shared image table (an image used twice is stored once).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

let chartJs: string | null = null;

/** Chart.js's UMD build (a dependency), ready to sit inside a `<script>` element. */
export function chartJsSource(): string {
  if (chartJs === null) {
    // The package exports only its ESM/CJS entries; the UMD file sits beside the CJS one.
    const entry = createRequire(import.meta.url).resolve("chart.js");
    chartJs = readFileSync(join(dirname(entry), "chart.umd.min.js"), "utf8").replace(
      /<\/(script)/gi,
      "<\\/$1",
    );
  }
  return chartJs;
}

/** JSON for a `<script type="application/json">` element (no `</script>` or `<!--` inside). */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c");
}

export const PAGE_STYLE = `
body{font-family:system-ui,sans-serif;margin:0 auto;padding:1.5rem 2rem;max-width:1400px;color:#111;line-height:1.4}
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
nav a{margin-right:1rem}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
.facts th{background:#f6f6f6;font-weight:600}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:1.2rem}
.chart{border:1px solid #e5e5e5;border-radius:6px;padding:.6rem .8rem}
.chart h3{margin:.1rem 0 .2rem;font-size:1rem}.chart p{margin:0 0 .4rem;color:#555;font-size:.85rem}
.chart .canvas{position:relative;height:260px}
.controls{margin:.6rem 0;display:flex;gap:1.2rem;flex-wrap:wrap;align-items:center}
.grid-table img{width:160px;height:auto;image-rendering:pixelated;display:block}
.grid-table td.prompt{max-width:260px;font-size:.9rem}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:1rem}
.card{border:1px solid #ddd;border-radius:6px;padding:.6rem}
.card .pair{display:flex;gap:.5rem}.card figure{margin:0;flex:1}
.card img{width:100%;image-rendering:pixelated;border:3px solid transparent;box-sizing:border-box}
.card img.win{border-color:#16a34a}.card figcaption{font-size:.8rem;color:#444}
.card .meta{font-size:.8rem;color:#555}.card .prompt{font-weight:600;margin:.2rem 0}
.card .reason{font-size:.85rem;white-space:pre-wrap;background:#f7f7f7;padding:.3rem;margin:.3rem 0}
.tag{display:inline-block;border-radius:3px;padding:0 .3rem;font-size:.75rem;background:#eee}
.tag.decided{background:#dcfce7}.tag.tie{background:#fef9c3}.tag.invalid,.tag.failed{background:#fee2e2}
pre{background:#f6f6f6;padding:1rem;white-space:pre-wrap;overflow-x:auto}
`;

export const PAGE_SCRIPT = `
(function () {
  var data = JSON.parse(document.getElementById("report-data").textContent);
  document.querySelectorAll("img[data-img]").forEach(function (img) {
    img.src = data.images[img.getAttribute("data-img")] || "";
  });
  function points(p) { return p.map(function (q) { return { x: q[0], y: q[1] }; }); }
  function smooth(p, w) {
    var out = [], last = 0;
    for (var i = 0; i < p.length; i++) {
      last = last * w + (1 - w) * p[i][1];
      out.push({ x: p[i][0], y: w > 0 ? last / (1 - Math.pow(w, i + 1)) : p[i][1] });
    }
    return out;
  }
  function fade(color, a) {
    var n = parseInt(color.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + a + ")";
  }
  function fmt(v) { return Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3) : +v.toPrecision(4) + ""; }
  var charts = [];
  data.charts.forEach(function (spec) {
    var sets = [];
    var xs = [];
    spec.series.forEach(function (s) {
      s.points.forEach(function (p) { xs.push(p[0]); });
      if (s.band) {
        sets.push({ label: s.label + " 95% low", data: points(s.band.low), borderWidth: 0, pointRadius: 0, fill: false, arrHelper: true });
        sets.push({ label: s.label + " 95% high", data: points(s.band.high), borderWidth: 0, pointRadius: 0, backgroundColor: fade(s.color, 0.15), fill: "-1", arrHelper: true });
      }
      if (spec.kind === "bar") {
        sets.push({ label: s.label, data: points(s.points), backgroundColor: s.color });
        return;
      }
      sets.push({ label: s.label, data: points(s.points), arrRaw: s.points, borderColor: s.color, backgroundColor: s.color,
        borderDash: s.dashed ? [6, 4] : [], borderWidth: 2, pointRadius: s.points.length > 40 ? 0 : 3, tension: 0 });
    });
    if (spec.reference !== undefined && xs.length > 0) {
      var lo = Math.min.apply(null, xs), hi = Math.max.apply(null, xs);
      sets.push({ label: "reference", data: [{ x: lo, y: spec.reference }, { x: hi, y: spec.reference }], borderColor: "#888",
        borderDash: [2, 3], borderWidth: 1, pointRadius: 0, arrHelper: true });
    }
    var chart = new Chart(document.getElementById("chart-" + spec.id), {
      type: spec.kind,
      data: { datasets: sets },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        interaction: { mode: "nearest", axis: "x", intersect: false },
        scales: {
          x: { type: "linear", offset: spec.kind === "bar", stacked: !!spec.stacked, title: { display: true, text: "update" }, ticks: { precision: 0 } },
          y: { stacked: !!spec.stacked, min: spec.min, max: spec.max, title: { display: true, text: spec.yTitle } }
        },
        plugins: {
          legend: { labels: { filter: function (item, d) { return !d.datasets[item.datasetIndex].arrHelper; } } },
          tooltip: {
            filter: function (item) { return !item.dataset.arrHelper; },
            callbacks: { label: function (c) { return c.dataset.label + ": " + fmt(c.parsed.y); } }
          }
        }
      }
    });
    charts.push(chart);
  });
  var slider = document.getElementById("smoothing");
  if (slider) {
    var shown = document.getElementById("smoothing-value");
    slider.addEventListener("input", function () {
      var w = Number(slider.value);
      shown.textContent = w.toFixed(2);
      charts.forEach(function (chart) {
        chart.data.datasets.forEach(function (ds) { if (ds.arrRaw) ds.data = smooth(ds.arrRaw, w); });
        chart.update("none");
      });
    });
  }
  var filters = Array.prototype.slice.call(document.querySelectorAll("select[data-filter]"));
  function applyFilters() {
    var shownCount = 0;
    document.querySelectorAll(".card").forEach(function (card) {
      var ok = filters.every(function (f) {
        var want = f.value;
        if (want === "all") return true;
        return (" " + (card.getAttribute("data-" + f.getAttribute("data-filter")) || "") + " ").indexOf(" " + want + " ") >= 0;
      });
      card.style.display = ok ? "" : "none";
      if (ok) shownCount++;
    });
    var counter = document.getElementById("verdicts-shown");
    if (counter) counter.textContent = String(shownCount);
  }
  filters.forEach(function (f) { f.addEventListener("change", applyFilters); });
})();
`;

import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/schema.js";
import type { EvalRecord } from "../../src/train/evals.js";
import { chartGroups } from "../../src/train/report/charts.js";
import { writeTrainReport } from "../../src/train/report/index.js";
import type { JudgementRecord } from "../../src/train/reward-service.js";
import { createRunDir, type RunPaths, writeManifest } from "../../src/train/run-dir.js";
import { launchChromium, openPage } from "../support/browser.js";
import { solidPng } from "../support/images.js";

const LONG_PROMPT = "a bright yellow sunflower field under a <b>clear</b> blue sky, seen from a low angle";
const PROMPTS = ["a red apple", LONG_PROMPT];

let root: string;
let config: Config;
let main: RunPaths;
let control: RunPaths;
let browser: Browser;

/** Rows as rank 0 and the controller write them: update `step` of `n`, with 2 pairs per update. */
function metricsRow(step: number, shift: number): Record<string, unknown> {
  const tie = step % 3 === 0 ? 1 : 0;
  return {
    time: "2026-12-01T00:00:00Z",
    step,
    update: step,
    lr: 3e-3,
    grad_norm: 0.5 + step / 10 + shift,
    loss: 0.01 * step,
    policy_loss: -0.02 * step,
    kl: 0.001 * step * step + shift,
    approx_kl: 0.0005 * step,
    ratio_mean: 1 + 0.01 * step,
    clip_frac: step / 20,
    reward_mean: 0,
    samples: 4,
    pairs: 2,
    decided: 2 - tie,
    tie,
    invalid: 0,
    failed: 0,
    agreement: 1 - tie / 2,
    cached: 0,
    time_sampling: 1.5,
    time_decode: 0.1,
    time_reference: 0.4,
    time_judge_wait: 0.2,
    time_update: 0.8,
    time_step: 3,
    judge: { completed: 2 * step, decided: 2 * step, tie: 0, invalid: 0, failed: 0 },
    vlm_calls: 4 * step,
    vlm_tokens: 1000 * step,
    vlm_cost: 0.01 * step,
  };
}

async function image(path: string, rgb: [number, number, number]): Promise<string> {
  await writeFile(path, await solidPng(rgb, 64));
  return path;
}

/** A run of 6 updates with eval points at 3 and 6 (win rate `rates`) and three training judgements. */
async function fakeRun(name: string, rates: [number, number], shift: number): Promise<RunPaths> {
  const paths = await createRunDir(config, { dir: join(root, name) });
  await writeManifest(paths, {
    config,
    python: {
      path: "/usr/bin/python3",
      versions: { python: "3.11.2", packages: { torch: "2.5.1" }, gpus: [] },
    },
    rubricHash: null,
  });
  await writeFile(
    paths.metrics,
    [1, 2, 3, 4, 5, 6].map((s) => `${JSON.stringify(metricsRow(s, shift))}\n`).join(""),
  );
  const evals: EvalRecord[] = [];
  for (const [k, update] of [3, 6].entries()) {
    const dir = join(paths.grids, `eval-00000${update}`);
    await mkdir(dir, { recursive: true });
    const base = await Promise.all(PROMPTS.map((_, i) => image(join(dir, `${i}-base.png`), [100, 100, 100])));
    const current = await Promise.all(
      PROMPTS.map((_, i) => image(join(dir, `${i}-lora.png`), [150 + 40 * k, 80, 60 + i])),
    );
    const sidecar = {
      update,
      grid: join(paths.grids, `eval-00000${update}.png`),
      prompts: PROMPTS,
      base,
      current,
    };
    await writeFile(
      join(paths.grids, `eval-00000${update}.json`),
      JSON.stringify({ ...sidecar, source_images: null }),
    );
    const rate = rates[k] as number;
    evals.push({
      update,
      rate,
      interval: { low: rate - 0.2, high: Math.min(1, rate + 0.2), level: 0.95 },
      prompts: 2,
      forward: { a: 1, b: 1, undecided: 0 },
      reverse: { a: 1, b: 0, undecided: 1 },
      grid: sidecar.grid,
      pairs: PROMPTS.map((prompt, i) => ({
        prompt,
        sourceImage: null,
        base: base[i] as string,
        current: current[i] as string,
        forward: { outcome: "decided", preferred: i === 0 ? "a" : "b", reason: "warmer <i>tones</i>" },
        reverse: { outcome: i === 0 ? "decided" : "tie", preferred: i === 0 ? "a" : null, reason: null },
        score: i === 0 ? 1 : 0.25,
      })),
    });
  }
  await writeFile(paths.evals, evals.map((e) => `${JSON.stringify(e)}\n`).join(""));
  const a = await image(join(paths.samples, "r0-o0-p0-c0.png"), [200, 50, 50]);
  const b = await image(join(paths.samples, "r0-o0-p0-c1.png"), [50, 50, 200]);
  const judgement = (step: number, extra: Partial<JudgementRecord>): JudgementRecord => ({
    id: `j${step}`,
    rank: 0,
    step,
    index: 0,
    prompt: "a red apple",
    images: [a, b],
    outcome: "decided",
    rewards: [1, -1],
    agreement: true,
    cached: false,
    latencyMs: 12,
    ranking: [1, 2],
    reason: "<script>alert(1)</script> image 1 is warmer",
    ...extra,
  });
  const judgements = [
    judgement(4, {}),
    judgement(5, { outcome: "tie", rewards: [0, 0], ranking: null, agreement: false, reason: "equal" }),
    judgement(0, { images: [join(paths.samples, "pruned-0.png"), join(paths.samples, "pruned-1.png")] }),
  ];
  await writeFile(paths.judgements, judgements.map((j) => `${JSON.stringify(j)}\n`).join(""));
  return paths;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "arr-train-report-"));
  config = (await loadConfig({ preset: "tiny-cpu", set: ["vlm.price.input_per_mtok=1"] })).config;
  main = await fakeRun("main", [0.6, 0.8], 0);
  control = await fakeRun("control", [0.4, 0.3], 0.5);
  browser = await launchChromium();
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await rm(root, { recursive: true, force: true });
});

function open(file: string): Promise<{ page: Page; problems: string[] }> {
  return openPage(browser, file);
}

/** Every Chart.js chart on the page: canvas id -> datasets (label and points) shown in the legend. */
async function chartsOf(
  page: Page,
): Promise<Record<string, Array<{ label: string; data: Array<{ x: number; y: number }> }>>> {
  return page.evaluate(() => {
    const out: Record<string, Array<{ label: string; data: Array<{ x: number; y: number }> }>> = {};
    // biome-ignore lint/suspicious/noExplicitAny: Chart.js and the DOM are the page's globals
    const { Chart, document } = globalThis as any;
    for (const canvas of Array.from(document.querySelectorAll("canvas")) as Array<{ id: string }>) {
      const chart = Chart.getChart(canvas);
      if (!chart) continue;
      out[canvas.id] = chart.data.datasets
        .filter((d: { arrHelper?: boolean }) => !d.arrHelper)
        .map((d: { label: string; data: Array<{ x: number; y: number }> }) => ({
          label: d.label,
          data: d.data,
        }));
    }
    return out;
  });
}

describe("training report", () => {
  it("draws every chart with the run's numbers, overlays the control, and has no console errors", async () => {
    const file = await writeTrainReport(main, {
      config,
      rubric: null,
      label: "trained",
      overlays: [{ label: "control", paths: control }],
    });
    const html = await readFile(file, "utf8");
    expect(html).not.toContain("<script>alert(1)</script>");
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    const { page, problems } = await open(file);
    const charts = await chartsOf(page);
    const canvases = await page.locator("canvas").count();
    expect(Object.keys(charts)).toHaveLength(canvases);
    expect(Object.keys(charts).sort()).toEqual(
      [
        "winrate",
        "outcomes",
        "agreement",
        "kl",
        "clip",
        "ratio",
        "policy-loss",
        "grad-norm",
        "lr",
        "timing",
        "vlm",
        "vlm-cost",
      ]
        .map((id) => `chart-${id}`)
        .sort(),
    );
    for (const [id, datasets] of Object.entries(charts)) {
      expect(datasets.length, id).toBeGreaterThan(0);
      for (const d of datasets) expect(d.data.length, `${id} ${d.label}`).toBeGreaterThan(0);
    }
    // The win rate per eval point, for both runs; shares of pairs, not counts; the metric key clip_frac.
    const y = (id: string, label: string) =>
      charts[`chart-${id}`]?.find((d) => d.label === label)?.data.map((p) => [p.x, p.y]);
    expect(y("winrate", "trained: win rate")).toEqual([
      [3, 0.6],
      [6, 0.8],
    ]);
    expect(y("winrate", "control: win rate")).toEqual([
      [3, 0.4],
      [6, 0.3],
    ]);
    expect(y("outcomes", "trained: tie")).toEqual([1, 2, 3, 4, 5, 6].map((s) => [s, s % 3 === 0 ? 0.5 : 0]));
    expect(y("clip", "trained: clip fraction")).toEqual([1, 2, 3, 4, 5, 6].map((s) => [s, s / 20]));
    // The timing split is stacked bars of the main run only.
    expect(charts["chart-timing"]?.map((d) => d.label)).toEqual([
      "sampling",
      "decode",
      "reference",
      "judge_wait",
      "update",
    ]);
    expect(html).not.toContain("Mean reward");

    // Smoothing: a debiased moving average (first point unchanged, later ones pulled back).
    const kl = y("kl", "trained: KL (the loss's estimator)") as number[][];
    await page.locator("#smoothing").fill("0.9");
    const smoothed = (await chartsOf(page))["chart-kl"]?.find(
      (d) => d.label === "trained: KL (the loss's estimator)",
    )?.data;
    expect(smoothed?.[0]?.y).toBeCloseTo(kl[0]?.[1] as number, 12);
    expect(smoothed?.[5]?.y).toBeLessThan(kl[5]?.[1] as number);

    // Samples: one row per eval prompt with its full text, base + one column per eval point, every image loaded.
    expect(await page.locator(".grid-table tr").count()).toBe(1 + PROMPTS.length);
    expect(await page.locator(".grid-table td.prompt").nth(1).textContent()).toBe(LONG_PROMPT);
    expect(await page.locator(".grid-table th").allTextContents()).toEqual([
      "prompt",
      "base",
      "update 3",
      "update 6",
    ]);
    const sources = await page
      .locator("img[data-img]")
      .evaluateAll((imgs) => imgs.map((i) => (i as unknown as { src: string }).src));
    expect(sources.length).toBeGreaterThan(0);
    for (const src of sources) expect(src.startsWith("data:image/png;base64,")).toBe(true);

    // Verdicts: 2 eval points x 2 prompts, plus the 2 training pairs whose images still exist.
    expect(await page.locator(".card").count()).toBe(6);
    expect(await page.locator(".card", { hasText: "(image pruned)" }).count()).toBe(0);
    await page.selectOption('select[data-filter="source"]', "eval");
    expect(await page.locator(".card:visible").count()).toBe(4);
    await page.selectOption('select[data-filter="outcome"]', "tie");
    expect(await page.locator(".card:visible").count()).toBe(2);
    await page.selectOption('select[data-filter="update"]', "6");
    expect(await page.locator(".card:visible").count()).toBe(1);
    expect(await page.textContent("#verdicts-shown")).toBe("1");
    await page.selectOption('select[data-filter="source"]', "training");
    await page.selectOption('select[data-filter="update"]', "all");
    expect(await page.locator(".card:visible .prompt").allTextContents()).toEqual(["a red apple"]);
    await page.selectOption('select[data-filter="outcome"]', "split");
    expect(await page.locator(".card:visible").count()).toBe(1);
    expect(problems).toEqual([]);
  }, 120_000);
});

describe("chartGroups", () => {
  it("leaves out charts without data and never plots the mean reward", () => {
    const run = {
      label: "run",
      metrics: [{ step: 1, kl: 0.1, reward_mean: 0, vlm_cost: 0 }],
      evals: [],
      judgements: [],
      grids: [],
      manifest: null,
    };
    const charts = chartGroups([run]).flatMap((g) => g.charts);
    expect(charts.map((c) => c.id)).toEqual(["kl"]);
    expect(charts[0]?.series.map((s) => s.label)).toEqual(["KL (the loss's estimator)"]);
  });
});

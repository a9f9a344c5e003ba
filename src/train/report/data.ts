/**
 * What a training report reads from a run directory: metrics.jsonl (one row per update),
 * evals.jsonl (win rate over the base per eval point), judgements.jsonl (every judged pair), the
 * eval grids' sidecars (grids/eval-<update>.json: prompts and per-prompt tiles) and manifest.json.
 */
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { EvalRecord } from "../evals.js";
import type { JudgementRecord } from "../reward-service.js";
import { type RunPaths, readJsonl } from "../run-dir.js";

/** One eval point's images: per prompt, the base model's and the current policy's (same seed). */
export interface GridPoint {
  update: number;
  prompts: string[];
  base: string[];
  current: string[];
}

export interface RunData {
  /** How the run is named on overlaid charts ("run", "control"). */
  label: string;
  metrics: Array<Record<string, unknown>>;
  evals: EvalRecord[];
  judgements: JudgementRecord[];
  grids: GridPoint[];
  manifest: Record<string, unknown> | null;
}

export async function loadRunData(paths: RunPaths, label: string): Promise<RunData> {
  return {
    label,
    metrics: await readJsonl(paths.metrics),
    evals: (await readJsonl(paths.evals)) as unknown as EvalRecord[],
    judgements: (await readJsonl(paths.judgements)) as unknown as JudgementRecord[],
    grids: await readGrids(paths.grids),
    manifest: existsSync(paths.manifest)
      ? (JSON.parse(await readFile(paths.manifest, "utf8")) as Record<string, unknown>)
      : null,
  };
}

/** The eval sidecars the workers write next to each grid, in update order. */
async function readGrids(dir: string): Promise<GridPoint[]> {
  if (!existsSync(dir)) return [];
  const names = (await readdir(dir)).filter((n) => /^eval-\d+\.json$/.test(n)).sort();
  const points: GridPoint[] = [];
  for (const name of names) {
    const raw = JSON.parse(await readFile(join(dir, name), "utf8")) as Partial<GridPoint>;
    // Sidecars of older runs have the prompts but no tiles: there is nothing to show per prompt.
    if (Array.isArray(raw.base) && Array.isArray(raw.current) && Array.isArray(raw.prompts)) {
      points.push({
        update: Number(raw.update),
        prompts: raw.prompts,
        base: raw.base,
        current: raw.current,
      });
    }
  }
  return points;
}

/** `[update, value]` for every row where `key` is a finite number. */
export function seriesOf(rows: ReadonlyArray<Record<string, unknown>>, key: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const row of rows) {
    const value = row[key];
    if (typeof row.step === "number" && typeof value === "number" && Number.isFinite(value)) {
      out.push([row.step, value]);
    }
  }
  return out;
}

/** `[update, row[key] / row.pairs]`: the share of the update's judged pairs (updates without pairs left out). */
export function shareOf(rows: ReadonlyArray<Record<string, unknown>>, key: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const row of rows) {
    const value = row[key];
    const pairs = row.pairs;
    if (typeof row.step === "number" && typeof value === "number" && typeof pairs === "number" && pairs > 0) {
      out.push([row.step, value / pairs]);
    }
  }
  return out;
}

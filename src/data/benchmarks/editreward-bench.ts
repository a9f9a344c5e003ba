/**
 * EditReward-Bench (Hugging Face `TIGER-Lab/EditReward-Bench`, gated): parquet shards
 * `2pair/train-00000-of-00001.parquet`, `3pair/train-0000{0,1}-of-00002.parquet`,
 * `4pair/train-0000{0..3}-of-00004.parquet`.
 *
 * One row is ONE pairwise comparison: `id`, `instruction`, `source_image`, `candidate_1`,
 * `candidate_2` (Image), `ranking` ("A>B", "B>A", "A=B", in 3/4-way sets also "C>A" ...),
 * `comparison_type` ("AvsB" ... "CvsD": its first letter is `candidate_1`), `model_1`, `model_2`,
 * `dataset` ("2pair"/"3pair"/"4pair"), `num_candidates`. A 3-way item is 3 rows, a 4-way item 6.
 *
 * Grouping rule: rows belong to one item when they share `dataset` and the id prefix before the
 * first "_" (`id.split("_")[0]`), the rule of the authors' evaluation fork; the full id (another
 * harness's choice) would make every comparison its own item and lose the 3/4-way structure. A
 * group whose rows disagree on the instruction is reported as bad: the rule would be wrong there.
 *
 * The full order is rebuilt from the pairwise labels, ties kept as ties (competition ranks: 1 + the
 * number of candidates strictly better). A group whose labels admit no order (a cycle, or a tie
 * contradicted by a strict label) is inconsistent: it keeps its comparisons (scored one by one, as
 * the benchmark's own scripts do) but gets no order, and evaluation counts it rather than guess.
 */
import { embeddedImage } from "../image-store.js";
import type { PairwiseLabel, PreferencePair } from "../pairs.js";
import { findShards, imageStoreFor, openShards, parquetRecords } from "../parquet.js";
import {
  type AdapterOptions,
  type AdapterResult,
  BadField,
  collect,
  imageRootOf,
  type RawRecord,
} from "../records.js";

/** The columns this adapter reads. */
export const EDITREWARD_COLUMNS = [
  "id",
  "instruction",
  "source_image",
  "candidate_1",
  "candidate_2",
  "ranking",
  "comparison_type",
] as const;

const letterIndex = (letter: string) => letter.toUpperCase().charCodeAt(0) - 65;

/** A row's label as a relation between its two candidates (`comparison_type` letters, in order). */
export function parseComparison(ranking: string, comparisonType: string): PairwiseLabel {
  const type = /^([A-Z])vs([A-Z])$/i.exec(comparisonType.trim());
  if (!type) throw new BadField("comparison_type", `expected "AvsB"-style, got "${comparisonType}"`);
  const [a, b] = [type[1] as string, type[2] as string].map((l) => l.toUpperCase()) as [string, string];
  const m = /^([A-Z])\s*([<>=])\s*([A-Z])/i.exec(ranking.trim());
  if (!m) throw new BadField("ranking", `expected "A>B", "B>A" or "A=B", got "${ranking}"`);
  const [left, op, right] = [(m[1] as string).toUpperCase(), m[2] as string, (m[3] as string).toUpperCase()];
  if (new Set([left, right, a, b]).size !== 2 || left === right) {
    throw new BadField("ranking", `"${ranking}" does not compare the candidates of ${comparisonType}`);
  }
  // Normalise to "a <op> b" with a = candidate_1.
  const flipped = left !== a;
  const relation = op === "=" ? "=" : (op === ">") !== flipped ? ">" : "<";
  return { a: letterIndex(a), b: letterIndex(b), relation };
}

/**
 * Competition ranks (1 = best, ties share a rank) of `n` candidates from pairwise labels, or null
 * when no weak order satisfies every label.
 */
export function rebuildOrder(n: number, labels: readonly PairwiseLabel[]): number[] | null {
  // Tie classes first (union-find), then strict edges between classes.
  const parent = Array.from({ length: n }, (_, i) => i);
  const find = (i: number): number => {
    let root = i;
    while (parent[root] !== root) root = parent[root] as number;
    return root;
  };
  for (const l of labels) if (l.relation === "=") parent[find(l.a)] = find(l.b);
  const better = new Map<number, Set<number>>(); // class -> classes strictly worse
  for (const l of labels) {
    if (l.relation === "=") continue;
    const [hi, lo] = l.relation === ">" ? [find(l.a), find(l.b)] : [find(l.b), find(l.a)];
    if (hi === lo) return null;
    if (!better.has(hi)) better.set(hi, new Set());
    better.get(hi)?.add(lo);
  }
  // Transitive closure by DFS; a class reaching itself is a cycle.
  const below = (start: number): Set<number> | null => {
    const seen = new Set<number>();
    const stack = [...(better.get(start) ?? [])];
    while (stack.length > 0) {
      const c = stack.pop() as number;
      if (c === start) return null;
      if (seen.has(c)) continue;
      seen.add(c);
      stack.push(...(better.get(c) ?? []));
    }
    return seen;
  };
  const worse = new Map<number, Set<number>>();
  for (let i = 0; i < n; i++) {
    const c = find(i);
    if (worse.has(c)) continue;
    const set = below(c);
    if (!set) return null;
    worse.set(c, set);
  }
  return Array.from({ length: n }, (_, i) => {
    let above = 0;
    for (let j = 0; j < n; j++) if (worse.get(find(j))?.has(find(i))) above++;
    return 1 + above;
  });
}

interface GroupRow {
  id: string;
  instruction: string;
  label: PairwiseLabel;
  source: string;
  first: string;
  second: string;
  models: [unknown, unknown];
  numCandidates: number | null;
}

async function readRow(
  r: Record<string, unknown>,
  raw: RawRecord,
  options: AdapterOptions,
  store = imageStoreFor(options),
) {
  const root = imageRootOf(raw.file, options);
  const id = r.id;
  if (typeof id !== "string" && typeof id !== "number") throw new BadField("id", "missing id");
  if (typeof r.instruction !== "string" || r.instruction.trim() === "")
    throw new BadField("instruction", "missing instruction");
  if (typeof r.ranking !== "string") throw new BadField("ranking", "missing ranking string");
  if (typeof r.comparison_type !== "string") throw new BadField("comparison_type", "missing comparison type");
  const row: GroupRow = {
    id: String(id),
    instruction: r.instruction,
    label: parseComparison(r.ranking, r.comparison_type),
    source: await embeddedImage(r.source_image, "source_image", store, root),
    first: await embeddedImage(r.candidate_1, "candidate_1", store, root),
    second: await embeddedImage(r.candidate_2, "candidate_2", store, root),
    models: [r.model_1, r.model_2],
    numCandidates: r.num_candidates == null ? null : Number(r.num_candidates),
  };
  return row;
}

function groupToPair(key: string, subset: string, rows: GroupRow[]): PreferencePair {
  const first = rows[0] as GroupRow;
  if (rows.some((r) => r.instruction !== first.instruction || r.source !== first.source)) {
    throw new BadField("id", `rows of group ${key} disagree on the instruction or source image`);
  }
  const images: string[] = [];
  const models: unknown[] = [];
  const place = (index: number, path: string, model: unknown, field: string) => {
    if (images[index] !== undefined && images[index] !== path)
      throw new BadField(
        field,
        `candidate ${String.fromCharCode(65 + index)} differs between rows of group ${key}`,
      );
    images[index] = path;
    models[index] = model;
  };
  for (const r of rows) {
    place(r.label.a, r.first, r.models[0], "candidate_1");
    place(r.label.b, r.second, r.models[1], "candidate_2");
  }
  const n = first.numCandidates ?? images.length;
  if (images.length !== n || images.some((p) => p === undefined)) {
    throw new BadField(
      "comparison_type",
      `group ${key} names ${images.filter(Boolean).length} of ${n} candidates`,
    );
  }
  const comparisons = rows.map((r) => r.label);
  const labelRank = rebuildOrder(n, comparisons);
  return {
    id: key,
    task: "edit",
    prompt: first.instruction,
    sourceImages: [first.source],
    images,
    ...(labelRank ? { labelRank } : {}),
    comparisons,
    category: subset,
    meta: { rows: rows.map((r) => r.id), models, ...(labelRank ? {} : { inconsistent: true }) },
  };
}

export async function loadEditRewardBench(
  path: string,
  options: AdapterOptions = {},
): Promise<AdapterResult> {
  const shards = await openShards(await findShards(path), "editreward-bench", EDITREWARD_COLUMNS);
  const store = imageStoreFor(options);
  // 1. rows -> groups (a group's rows may sit in different shards); bad rows follow the policy.
  const groups = new Map<string, { subset: string; rows: GroupRow[]; raw: RawRecord }>();
  const rowPass = await collect(
    path,
    parquetRecords(shards),
    { ...options, limit: undefined, idKeys: ["id"] },
    async (r, _id, raw) => {
      const row = await readRow(r, raw, options, store);
      const subset = typeof r.dataset === "string" && r.dataset ? r.dataset : "editreward";
      const key = `${subset}/${row.id.split("_")[0]}`;
      // The group keeps where its first row was, not the row: its images are already files.
      const group = groups.get(key) ?? { subset, rows: [], raw: { ...raw, value: null } };
      group.rows.push(row);
      groups.set(key, group);
      return null;
    },
  );
  // 2. groups -> items.
  const records = [...groups.entries()].map(([key, g], index) => ({ ...g.raw, value: { key }, index }));
  const result = await collect(path, records, { ...options, idKeys: ["key"] }, async (_r, key) => {
    const g = groups.get(key) as { subset: string; rows: GroupRow[] };
    return { pair: groupToPair(key, g.subset, g.rows) };
  });
  const inconsistent = result.pairs.filter((p) => !p.labelRank).length;
  return {
    ...result,
    skipped: [...rowPass.skipped, ...result.skipped],
    notes: { "groups with inconsistent pairwise labels": inconsistent },
  };
}

/**
 * Dataset formats `arr eval` reads, one entry point that dispatches on the format, and detection of
 * the format from a file's keys or a shard's columns when none is given. A format that does not
 * match the file is an error naming the keys it expects and the ones it found.
 */
import { stat } from "node:fs/promises";
import { DatasetError } from "../../errors.js";
import { findShards, isParquet, openShard, shardFolders } from "../parquet.js";
import { type AdapterOptions, type AdapterResult, asObject, readRecords } from "../records.js";
import { EDITREWARD_COLUMNS, loadEditRewardBench } from "./editreward-bench.js";
import { loadHpdv3 } from "./hpdv3.js";
import { loadMmrb2, MMRB2_COLUMNS } from "./mmrb2.js";
import { loadReference } from "./reference.js";

export type { AdapterOptions, AdapterResult } from "../records.js";
export { loadEditRewardBench, parseComparison, rebuildOrder } from "./editreward-bench.js";
export { loadHpdv3 } from "./hpdv3.js";
export { loadMmrb2 } from "./mmrb2.js";
export { loadReference } from "./reference.js";

export const DATASET_FORMATS = ["reference", "hpdv3", "mmrb2-t2i", "mmrb2-edit", "editreward-bench"] as const;
export type DatasetFormat = (typeof DATASET_FORMATS)[number];

/** Keys (JSON) a format needs in its first item: any one of each inner list. */
const JSON_KEYS: Record<Exclude<DatasetFormat, "editreward-bench">, string[][]> = {
  reference: [
    ["query", "prompt", "instruction"],
    ["image_paths", "response", "responses", "images", "edited_images"],
  ],
  hpdv3: [["prompt"], ["path1"], ["path2"]],
  "mmrb2-t2i": [["prompt_content"], ["response_a"], ["response_b"], ["chosen", "human_preference"]],
  "mmrb2-edit": [["prompt_content"], ["response_a"], ["response_b"], ["chosen", "human_preference"]],
};

async function firstKeys(file: string): Promise<string[]> {
  const records = await readRecords(file, "pairs");
  const first = records[0];
  if (!first || first.parseError) return [];
  try {
    return Object.keys(asObject(first.value));
  } catch {
    return [];
  }
}

async function isParquetInput(path: string): Promise<boolean> {
  if (isParquet(path)) return true;
  return (await stat(path).catch(() => null))?.isDirectory() ?? false;
}

/** The format of a dataset file, folder or shard, from its keys or columns. */
export async function detectDatasetFormat(path: string): Promise<DatasetFormat> {
  if (await isParquetInput(path)) {
    const shards = await findShards(path);
    const first = shards[0];
    if (!first) {
      throw new DatasetError(`${path}: no *.parquet shards in this folder`, {
        file: path,
        hint: "point --dataset at a shard, a config folder (t2i/, 3pair/) or the dataset root",
      });
    }
    const { columns } = await openShard(first);
    if (EDITREWARD_COLUMNS.every((c) => columns.includes(c))) return "editreward-bench";
    if (MMRB2_COLUMNS.every((c) => columns.includes(c))) {
      const configs = new Set(
        shards.flatMap((s) => shardFolders(path, s)).filter((f) => f === "t2i" || f === "edit"),
      );
      if (configs.size === 1) return configs.has("edit") ? "mmrb2-edit" : "mmrb2-t2i";
      throw new DatasetError(
        `${path}: MMRB2 shards, but which config (t2i or edit) cannot be told from the path`,
        {
          file: path,
          hint: "pass --format mmrb2-t2i or --format mmrb2-edit, or point --dataset at the t2i/ or edit/ folder",
        },
      );
    }
    throw new DatasetError(`${first}: unknown parquet layout (columns ${columns.join(", ")})`, {
      file: first,
      hint: `expected MMRB2 (${MMRB2_COLUMNS.join(", ")}) or EditReward-Bench (${EDITREWARD_COLUMNS.join(", ")})`,
    });
  }
  const keys = await firstKeys(path);
  const matches = (format: keyof typeof JSON_KEYS) =>
    JSON_KEYS[format].every((any) => any.some((k) => keys.includes(k)));
  if (matches("hpdv3")) return "hpdv3";
  if (matches("mmrb2-t2i")) return /edit/i.test(path) ? "mmrb2-edit" : "mmrb2-t2i";
  if (matches("reference")) return "reference";
  throw new DatasetError(
    `${path}: cannot tell the dataset layout from its first item's keys (${keys.join(", ") || "none"})`,
    {
      file: path,
      hint: `pass --format (${DATASET_FORMATS.join(", ")})`,
    },
  );
}

async function checkJsonKeys(path: string, format: DatasetFormat): Promise<void> {
  if (format === "editreward-bench") {
    throw new DatasetError(`${path}: --format editreward-bench reads the parquet shards, not JSON`, {
      file: path,
      hint: "point --dataset at the EditReward-Bench folder (2pair/, 3pair/, 4pair/) or one of its shards",
    });
  }
  const keys = await firstKeys(path);
  if (keys.length === 0) return; // an empty or unparsable file gets its own, precise error from the reader
  const missing = JSON_KEYS[format].filter((any) => !any.some((k) => keys.includes(k)));
  if (missing.length > 0) {
    throw new DatasetError(
      `${path}: --format ${format} expects keys ${JSON_KEYS[format].map((a) => a.join("|")).join(", ")}; the first item has ${keys.join(", ")}`,
      {
        file: path,
        field: missing[0]?.[0],
        hint: "omit --format to detect the layout, or pass the one that matches",
      },
    );
  }
}

/** Loads a preference dataset in one of the published layouts; without a format it is detected. */
export async function loadDataset(
  path: string,
  format?: DatasetFormat | null,
  options: AdapterOptions = {},
): Promise<AdapterResult & { format: DatasetFormat }> {
  const resolved = format ?? (await detectDatasetFormat(path));
  const parquet = await isParquetInput(path);
  if (!parquet) await checkJsonKeys(path, resolved);
  else if (resolved === "reference" || resolved === "hpdv3") {
    throw new DatasetError(`${path}: --format ${resolved} reads JSON or JSONL, not parquet`, {
      file: path,
      hint: "omit --format to detect the layout",
    });
  }
  const result = await load(path, resolved, options);
  return { ...result, format: resolved };
}

function load(path: string, format: DatasetFormat, options: AdapterOptions): Promise<AdapterResult> {
  switch (format) {
    case "reference":
      return loadReference(path, options);
    case "hpdv3":
      return loadHpdv3(path, options);
    case "mmrb2-t2i":
      return loadMmrb2(path, "t2i", options);
    case "mmrb2-edit":
      return loadMmrb2(path, "edit", options);
    case "editreward-bench":
      return loadEditRewardBench(path, options);
  }
}

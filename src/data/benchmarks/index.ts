/** Dataset formats `arr eval` reads, and one entry point that dispatches on the format. */
import type { AdapterOptions, AdapterResult } from "../records.js";
import { loadEditRewardBench } from "./editreward-bench.js";
import { loadHpdv3 } from "./hpdv3.js";
import { loadMmrb2 } from "./mmrb2.js";
import { loadReference } from "./reference.js";

export type { AdapterOptions, AdapterResult } from "../records.js";
export { loadEditRewardBench, parseVoteRanking } from "./editreward-bench.js";
export { loadHpdv3 } from "./hpdv3.js";
export { loadMmrb2 } from "./mmrb2.js";
export { loadReference } from "./reference.js";

export const DATASET_FORMATS = ["reference", "hpdv3", "mmrb2-t2i", "mmrb2-edit", "editreward-bench"] as const;
export type DatasetFormat = (typeof DATASET_FORMATS)[number];

/** Loads a preference dataset in one of the supported published layouts (JSON or JSONL only). */
export function loadDataset(
  file: string,
  format: DatasetFormat,
  options: AdapterOptions = {},
): Promise<AdapterResult> {
  switch (format) {
    case "reference":
      return loadReference(file, options);
    case "hpdv3":
      return loadHpdv3(file, options);
    case "mmrb2-t2i":
      return loadMmrb2(file, "t2i", options);
    case "mmrb2-edit":
      return loadMmrb2(file, "edit", options);
    case "editreward-bench":
      return loadEditRewardBench(file, options);
  }
}

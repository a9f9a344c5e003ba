/**
 * The reference release's layout (query / response(s) / source_image / edited_images /
 * label_rank, JSON array or JSONL), read by the judge module's `loadPairs`; this adapter only maps
 * its skip records to evaluation's and applies `limit`. Tie labels are excluded later by evaluate().
 */
import { loadPairs } from "../pairs.js";
import type { AdapterOptions, AdapterResult } from "../records.js";

export async function loadReference(
  file: string,
  options: AdapterOptions & { task?: "t2i" | "edit" } = {},
): Promise<AdapterResult> {
  const { pairs, skipped } = await loadPairs(file, {
    ...(options.task ? { task: options.task } : {}),
    ...(options.skipBad ? { skipBad: true } : {}),
  });
  return {
    pairs: options.limit === undefined ? pairs : pairs.slice(0, options.limit),
    skipped: skipped.map((b) => ({ id: `${b.file}:${b.line}`, field: b.field, reason: b.message })),
    excluded: [],
  };
}

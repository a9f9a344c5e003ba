/**
 * The reference release's layout (query / response(s) / source_image / edited_images /
 * label_rank, JSON array or JSONL), read by `loadPairs`; this adapter applies `limit`. Tie labels
 * are excluded later by evaluate().
 */
import { loadPairs } from "../pairs.js";
import type { AdapterOptions, AdapterResult } from "../records.js";

export async function loadReference(
  file: string,
  options: AdapterOptions & { task?: "t2i" | "edit" } = {},
): Promise<AdapterResult> {
  const { pairs, skipped } = await loadPairs(file, options);
  return { pairs, skipped, excluded: [] };
}

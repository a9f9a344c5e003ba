/**
 * HPDv3 test split (Hugging Face `MizzenAI/HPDv3`, `test.json`; images from `images.tar.gz.*`,
 * extracted with `cat images.tar.gz.* | gunzip | tar -x` in the dataset root).
 *
 * Verified against the HPSv3 README ("Test Set (`test.json`)"): a JSON array of
 * `{ prompt, path1, path2, model1, model2 }` where path1 is ALWAYS the preferred image and the paths
 * are relative to the dataset root (e.g. `images/<uuid>.jpg`, after extracting images.tar.gz.*).
 * `all.json`/`train.json` rows add `choice_dist` and `confidence`; they are kept in `meta`.
 * Because the preferred image always comes first, a judge that always answers "Image 1" scores
 * 100 % in the forward order: only both orders together measure anything (see evaluate.ts).
 * No category field exists; the generator pair goes into `meta`.
 */
import {
  type AdapterOptions,
  type AdapterResult,
  collect,
  imageRootOf,
  readRecords,
  requireString,
  resolveImage,
} from "../records.js";

export async function loadHpdv3(file: string, options: AdapterOptions = {}): Promise<AdapterResult> {
  const root = imageRootOf(file, options);
  const records = await readRecords(file);
  const missingHint =
    "HPDv3's image archive lacks some images named in test.json (MizzenAI/HPSv3 issue 21); check images.tar.gz.* was extracted next to test.json";
  return collect(file, records, { ...options, missingHint }, async (r, id) => {
    const prompt = requireString(r, "prompt");
    const preferred = await resolveImage(r.path1, "path1", root);
    const other = await resolveImage(r.path2, "path2", root);
    const meta: Record<string, unknown> = {};
    for (const key of ["model1", "model2", "confidence", "choice_dist"]) {
      if (r[key] !== undefined && r[key] !== null) meta[key] = r[key];
    }
    return { pair: { id, task: "t2i", prompt, images: [preferred, other], labelRank: [1, 2], meta } };
  });
}

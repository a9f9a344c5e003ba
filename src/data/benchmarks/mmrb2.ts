/**
 * MM-RewardBench2 (facebookresearch/MMRB2), the text-to-image and image-editing subsets.
 *
 * Verified against the repository (benchmark/build_from_hf.py, 4_finalize_release.py and the
 * shipped `t2i_response_only.json` / `edit_response_only.json`): the built `t2i.json` / `edit.json`
 * are `{ "pairs": [ ... ] }` with per pair
 *   `id`, `prompt_content: [["text", ...] | ["image", "input_images/..."]]`, `prompt_source`,
 *   `prompt_metadata` (object), `response_a` / `response_b`: `{ model_name, response_content:
 *   [["image", "images/..."]] }`, `chosen: "A" | "B"`, optional `human_annotations`;
 * paths are relative to the folder holding the JSON. The benchmark README documents older names
 * (`pair_id`, `model`, `human_preference`); they are accepted as aliases. For edits the first image
 * of `prompt_content` is the source image (Emu-Edit, HQ-Edit, ... put it before the instruction);
 * extra prompt images (not verified to occur in the edit subset) are kept in `meta`.
 * `prompt_source` (oneigbench, evalmuse, emu-edit, ...) is the category.
 * The Hugging Face parquet release (images embedded) is not read here: build the JSON with the
 * repository's `build_from_hf.py`, or export rows to JSON/JSONL with these fields.
 */
import {
  type AdapterOptions,
  type AdapterResult,
  BadField,
  collect,
  imageRootOf,
  readRecords,
  resolveImage,
} from "../records.js";

type Content = [string, string][];

function content(value: unknown, field: string): Content {
  if (!Array.isArray(value)) throw new BadField(field, "missing or not a list of [type, value] entries");
  return value.filter(
    (e): e is [string, string] => Array.isArray(e) && typeof e[0] === "string" && typeof e[1] === "string",
  );
}

function responseImage(
  r: Record<string, unknown>,
  key: "response_a" | "response_b",
): { path: string; model: unknown } {
  const response = r[key];
  if (typeof response !== "object" || response === null) throw new BadField(key, "missing response object");
  const resp = response as Record<string, unknown>;
  const image = content(resp.response_content, `${key}.response_content`).find((e) => e[0] === "image");
  if (!image) throw new BadField(`${key}.response_content`, "no image entry");
  return { path: image[1], model: resp.model_name ?? resp.model };
}

export async function loadMmrb2(
  file: string,
  task: "t2i" | "edit",
  options: AdapterOptions = {},
): Promise<AdapterResult> {
  const root = imageRootOf(file, options);
  const records = await readRecords(file, "pairs");
  return collect(file, records, options, async (r, id) => {
    const prompt = content(r.prompt_content, "prompt_content");
    const text = prompt
      .filter((e) => e[0] === "text")
      .map((e) => e[1])
      .join("\n")
      .trim();
    if (text === "") throw new BadField("prompt_content", "no text entry");
    const promptImages = prompt.filter((e) => e[0] === "image").map((e) => e[1]);
    let sourceImage: string | undefined;
    if (task === "edit") {
      if (promptImages.length === 0) throw new BadField("prompt_content", "edit item without a source image");
      sourceImage = await resolveImage(promptImages[0], "prompt_content", root);
    }
    const a = responseImage(r, "response_a");
    const b = responseImage(r, "response_b");
    const images = [
      await resolveImage(a.path, "response_a.response_content", root),
      await resolveImage(b.path, "response_b.response_content", root),
    ];
    const chosenField = r.chosen !== undefined ? "chosen" : "human_preference";
    const chosen = String(r[chosenField] ?? "").toUpperCase();
    if (chosen !== "A" && chosen !== "B")
      throw new BadField(chosenField, `expected "A" or "B", got ${JSON.stringify(r[chosenField])}`);
    const meta: Record<string, unknown> = { model_a: a.model, model_b: b.model };
    if (r.prompt_metadata !== undefined) meta.prompt_metadata = r.prompt_metadata;
    if (r.human_annotations !== undefined) meta.human_annotations = r.human_annotations;
    if (promptImages.length > (task === "edit" ? 1 : 0))
      meta.extra_prompt_images = promptImages.slice(task === "edit" ? 1 : 0);
    const category = typeof r.prompt_source === "string" && r.prompt_source ? r.prompt_source : undefined;
    return {
      pair: {
        id,
        task,
        prompt: text,
        ...(sourceImage ? { sourceImage } : {}),
        images,
        labelRank: chosen === "A" ? [1, 2] : [2, 1],
        ...(category ? { category } : {}),
        meta,
      },
    };
  });
}

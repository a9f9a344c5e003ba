import { copyFile, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { loadDataset } from "../../src/data/benchmarks/index.js";
import { DatasetError } from "../../src/errors.js";

const FIX = resolve(import.meta.dirname, "../fixtures/eval");
const img = (name: string) => join(FIX, "images", `${name}.png`);

describe("HPDv3 test split", () => {
  it("reads prompt/path1/path2 with path1 as the preferred image", async () => {
    const r = await loadDataset(join(FIX, "hpdv3-test.json"), "hpdv3");
    expect(r.pairs).toHaveLength(3);
    expect(r.pairs[0]).toMatchObject({
      id: "hpdv3-test.json#0",
      task: "t2i",
      prompt: "a red apple on a table",
      images: [img("red"), img("gray")],
      labelRank: [1, 2],
      meta: { model1: "flux", model2: "infinity" },
    });
  });

  it("a missing field or image names the item and the field; --skip-bad counts them", async () => {
    const file = join(FIX, "hpdv3-missing-path2.json");
    const err = await loadDataset(file, "hpdv3").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as DatasetError).message).toMatch(
      /hpdv3-missing-path2\.json item 1: item "hpdv3-missing-path2.json#1" field path2: missing image path/,
    );
    expect((err as DatasetError).field).toBe("path2");
    const r = await loadDataset(file, "hpdv3", { skipBad: true });
    expect(r.pairs.map((p) => p.prompt)).toEqual(["a red apple on a table"]);
    expect(r.skipped).toMatchObject([
      { id: "hpdv3-missing-path2.json#1", field: "path2", reason: "missing image path" },
      { id: "hpdv3-missing-path2.json#2", field: "path2", reason: `image not found: ${img("nope")}` },
    ]);
  });

  it("resolves images against --image-root", async () => {
    const dir = await mkdtemp(join(tmpdir(), "arr-hpd-"));
    const file = join(dir, "test.json");
    await writeFile(
      file,
      JSON.stringify([{ prompt: "p", path1: "images/red.png", path2: "images/blue.png" }]),
    );
    await expect(loadDataset(file, "hpdv3")).rejects.toThrow(/field path1: image not found/);
    const r = await loadDataset(file, "hpdv3", { imageRoot: FIX });
    expect(r.pairs[0]?.images).toEqual([img("red"), img("blue")]);
  });
});

describe("MM-RewardBench2", () => {
  it("T2I: {pairs: [...]} with chosen A/B and prompt_source as category", async () => {
    const r = await loadDataset(join(FIX, "mmrb2-t2i.json"), "mmrb2-t2i");
    expect(r.pairs.map((p) => [p.id, p.labelRank, p.category])).toEqual([
      ["oneigbench_1", [1, 2], "oneigbench"],
      ["evalmuse_7", [2, 1], "evalmuse"],
    ]);
    expect(r.pairs[1]).toMatchObject({ prompt: "Two cats on a sofa", images: [img("black"), img("blue")] });
    expect(r.pairs[0]?.meta).toMatchObject({
      model_a: "imagen4",
      model_b: "flux",
      human_annotations: [1, 1, 2],
    });
  });

  it("Edit (JSONL): the first prompt image is the source; README aliases are accepted", async () => {
    const r = await loadDataset(join(FIX, "mmrb2-edit.jsonl"), "mmrb2-edit");
    expect(r.pairs[0]).toMatchObject({
      id: "emu-edit_3",
      task: "edit",
      prompt: "make the background green",
      sourceImages: [img("white")],
      images: [img("green"), img("red")],
      labelRank: [1, 2],
    });
    expect(r.pairs[1]).toMatchObject({ id: "hq-edit_9", labelRank: [2, 1], meta: { model_a: "bagel" } });
  });

  it("an edit item without a source image is an error naming prompt_content", async () => {
    const dir = await mkdtemp(join(tmpdir(), "arr-mmrb2-"));
    const file = join(dir, "edit.json");
    await copyFile(img("red"), join(dir, "a.png"));
    const row = {
      id: "x1",
      prompt_content: [["text", "edit it"]],
      response_a: { response_content: [["image", "a.png"]] },
      response_b: { response_content: [["image", "a.png"]] },
      chosen: "C",
    };
    await expect(loadDataset(file, "mmrb2-edit").catch((e) => e)).resolves.toBeInstanceOf(DatasetError);
    await writeFile(file, JSON.stringify({ pairs: [row] }));
    await expect(loadDataset(file, "mmrb2-edit")).rejects.toThrow(
      /item "x1" field prompt_content: edit item without a source image/,
    );
    await expect(loadDataset(file, "mmrb2-t2i")).rejects.toThrow(
      /item "x1" field chosen: expected "A" or "B"/,
    );
  });
});

describe("reference layout", () => {
  it("reads query/response/label_rank through the judge module's loader", async () => {
    const r = await loadDataset(join(FIX, "reference-t2i.json"), "reference");
    expect(r.pairs.map((p) => [p.prompt, p.images, p.labelRank])).toEqual([
      ["a red apple", [img("red"), img("gray")], [1, 2]],
      ["the blue sea", [img("black"), img("blue")], [2, 1]],
    ]);
  });
});

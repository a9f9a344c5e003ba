import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadPairs } from "../../src/data/pairs.js";
import { DatasetError } from "../../src/errors.js";
import { solidPng, writeImage } from "../support/images.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "arr-pairs-"));
  for (const n of ["a", "b", "c", "src"]) await writeImage(join(dir, "img"), `${n}.png`, await solidPng(100));
});

async function file(name: string, text: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, text);
  return p;
}

describe("loadPairs", () => {
  it("reads a JSON array in the reference layout, paths relative to the file", async () => {
    const p = await file(
      "t2i.json",
      JSON.stringify([
        { query: "a cat", response: ["img/a.png", "img/b.png"], label_rank: [2, 1], extra: 5 },
        { id: "x", prompt: "a dog", images: ["img/a.png", "img/b.png", "img/c.png"], category: "animals" },
      ]),
    );
    const { pairs, skipped } = await loadPairs(p);
    expect(skipped).toEqual([]);
    expect(pairs[0]).toEqual({
      id: "t2i.json#0",
      task: "t2i",
      prompt: "a cat",
      images: [join(dir, "img/a.png"), join(dir, "img/b.png")],
      labelRank: [2, 1],
      meta: { extra: 5 },
    });
    expect(pairs[1]).toMatchObject({ id: "x", category: "animals" });
    expect(pairs[1]?.images).toHaveLength(3);
  });

  it("reads edit pairs from JSONL: source_image + edited_images, or the base first in the list", async () => {
    const p = await file(
      "edit.jsonl",
      [
        JSON.stringify({
          instruction: "add a hat",
          source_image: "img/src.png",
          edited_images: ["img/a.png", "img/b.png"],
          label_rank: [1, 2],
        }),
        "",
        JSON.stringify({
          query: "remove the hat",
          image_paths: ["img/src.png", "img/a.png", "img/b.png"],
          label_rank: [2, 1],
        }),
      ].join("\n"),
    );
    const { pairs } = await loadPairs(p, { task: "edit" });
    expect(pairs.map((x) => [x.task, x.sourceImages, x.images.length])).toEqual([
      ["edit", [join(dir, "img/src.png")], 2],
      ["edit", [join(dir, "img/src.png")], 2],
    ]);
    expect(pairs[1]?.id).toBe("edit.jsonl#1");
  });

  it("names file, line and field of a bad row; skipBad collects them instead", async () => {
    const p = await file(
      "bad.jsonl",
      [
        JSON.stringify({ query: "ok", response: ["img/a.png", "img/b.png"] }),
        JSON.stringify({ query: "one image", response: ["img/a.png"] }),
        "{not json",
        JSON.stringify({ query: "missing", response: ["img/a.png", "img/nope.png"] }),
        JSON.stringify({ query: "label", response: ["img/a.png", "img/b.png"], label_rank: [1, 2, 3] }),
        JSON.stringify({ response: ["img/a.png", "img/b.png"] }),
      ].join("\n"),
    );
    const err = await loadPairs(p).catch((e) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect(err.message).toMatch(
      /bad\.jsonl:2: item "bad\.jsonl#1" field response: expected at least 2 candidate images/,
    );
    expect([err.line, err.field]).toEqual([2, "response"]);

    const { pairs, skipped } = await loadPairs(p, { skipBad: true });
    expect(pairs).toHaveLength(1);
    expect(skipped.map((s) => [s.where, s.field])).toEqual([
      [`${p}:2`, "response"],
      [`${p}:3`, "(row)"],
      [`${p}:4`, "response[1]"],
      [`${p}:5`, "label_rank"],
      [`${p}:6`, "query"],
    ]);
    expect(skipped[2]?.reason).toContain("nope.png");
  });

  it("rejects an edit pair without a source image and a task mismatch", async () => {
    const p = await file(
      "e.json",
      JSON.stringify([{ query: "q", edited_images: ["img/a.png", "img/b.png"] }]),
    );
    await expect(loadPairs(p)).rejects.toThrow(
      /e\.json item 0: item "e\.json#0" field source_image: an edit pair needs a source image/,
    );
    const q = await file("t.json", JSON.stringify([{ query: "q", response: ["img/a.png", "img/b.png"] }]));
    await expect(loadPairs(q, { task: "edit" })).rejects.toThrow(/source_image/);
  });

  it("rejects invalid JSON and duplicate ids", async () => {
    await expect(loadPairs(await file("broken.json", "[{"))).rejects.toThrow(/broken\.json: not valid JSON/);
    const d = await file(
      "dup.json",
      JSON.stringify([
        { id: 1, query: "q", response: ["img/a.png", "img/b.png"] },
        { id: "1", query: "q", response: ["img/a.png", "img/b.png"] },
      ]),
    );
    await expect(loadPairs(d)).rejects.toThrow(/duplicate item id "1"/);
  });
});

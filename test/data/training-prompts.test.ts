/**
 * Training prompt datasets: every format, paths relative to the file, and bad rows named by line.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DatasetSchema, type Task } from "../../src/config/schema.js";
import { detectFormat, loadPromptDataset } from "../../src/data/training-prompts.js";
import { DatasetError } from "../../src/errors.js";
import { solidPng } from "../support/images.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "arr-datasets-"));
  await writeFile(join(dir, "src.png"), await solidPng(128));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function load(name: string, text: string, extra: Record<string, unknown> = {}, task: Task = "t2i") {
  const path = join(dir, name);
  await writeFile(path, text);
  return loadPromptDataset(DatasetSchema.parse({ path, ...extra }), task);
}

async function failure(promise: Promise<unknown>): Promise<DatasetError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DatasetError);
  return error as DatasetError;
}

describe("training datasets", () => {
  it("text: one prompt per line, blank lines and # comments skipped, limit applied", async () => {
    const rows = await load("p.txt", "# header\na red apple\n\n  a blue car  \r\na green tree\n");
    expect(rows).toEqual([
      { prompt: "a red apple", sourceImage: null },
      { prompt: "a blue car", sourceImage: null },
      { prompt: "a green tree", sourceImage: null },
    ]);
    expect((await load("p2.txt", "a\nb\nc\n", { limit: 2 })).map((r) => r.prompt)).toEqual(["a", "b"]);
  });

  it("drop_cjk removes prompts with CJK characters", async () => {
    const rows = await load("cjk.txt", "a cat\n一只猫\na dog\n", { drop_cjk: true });
    expect(rows.map((r) => r.prompt)).toEqual(["a cat", "a dog"]);
  });

  it("jsonl: prompt, caption or text per line", async () => {
    const rows = await load(
      "p.jsonl",
      '{"prompt": "one"}\n\n{"caption": "two"}\n{"text": "three", "extra": 1}\n',
    );
    expect(rows.map((r) => r.prompt)).toEqual(["one", "two", "three"]);
  });

  it("jsonl: a bad row is an error naming its line", async () => {
    const notJson = await failure(load("bad1.jsonl", '{"prompt": "ok"}\n{"prompt": \n'));
    expect(notJson.message).toMatch(/bad1\.jsonl:2: not valid JSON/);
    const noPrompt = await failure(load("bad2.jsonl", '{"prompt": "ok"}\n\n{"title": "x"}\n'));
    expect(noPrompt.message).toMatch(/bad2\.jsonl:3: missing field "prompt"/);
    expect(noPrompt.hint).toContain("caption");
    const array = await failure(load("bad3.jsonl", '["a"]\n'));
    expect(array.message).toMatch(/bad3\.jsonl:1: expected a JSON object/);
  });

  it("edit-jsonl: source images resolve against the file's folder; a missing one names the line", async () => {
    const rows = await load(
      "edit.jsonl",
      '{"source_image": "src.png", "instruction": "make it red"}\n',
      { format: "edit-jsonl" },
      "edit",
    );
    expect(rows).toEqual([{ prompt: "make it red", sourceImage: join(dir, "src.png") }]);
    const missing = await failure(
      load(
        "edit2.jsonl",
        '{"source_image": "src.png", "instruction": "a"}\n{"source_image": "nope.png", "instruction": "b"}\n',
        { format: "edit-jsonl" },
        "edit",
      ),
    );
    expect(missing.message).toMatch(/edit2\.jsonl:2: source_image "nope\.png" does not exist/);
    const noInstruction = await failure(
      load("edit3.jsonl", '{"source_image": "src.png"}\n', { format: "edit-jsonl" }, "edit"),
    );
    expect(noInstruction.message).toMatch(/edit3\.jsonl:1: missing field "instruction"/);
  });

  it("an editing run refuses prompts without source images", async () => {
    const error = await failure(load("plain.txt", "make it red\n", {}, "edit"));
    expect(error.message).toContain("needs a source image");
  });

  it("ShareGPT-4o-Image JSON: input_prompt, and input_image for edits; bad items named", async () => {
    const t2i = await load(
      "sharegpt.json",
      JSON.stringify([
        { input_prompt: "a castle", output_image: "out/1.png" },
        { input_prompt: " a river " },
      ]),
    );
    expect(t2i.map((r) => r.prompt)).toEqual(["a castle", "a river"]);
    const edit = await load(
      "sharegpt-edit.json",
      JSON.stringify([{ input_prompt: "add snow", input_image: ["src.png"], output_image: "o.png" }]),
      {},
      "edit",
    );
    expect(edit).toEqual([{ prompt: "add snow", sourceImage: join(dir, "src.png") }]);
    const bad = await failure(
      load("sharegpt-bad.json", JSON.stringify([{ input_prompt: "ok" }, { output: 1 }])),
    );
    expect(bad.message).toMatch(/sharegpt-bad\.json: item 1: missing field "input_prompt"/);
    const notArray = await failure(load("sharegpt-obj.json", "{}"));
    expect(notArray.message).toContain("expected a JSON array");
  });

  it("ShareGPT-4o-Image folder: the file is picked by the task; a missing tar extraction is one error", async () => {
    const root = await mkdtemp(join(dir, "sharegpt-"));
    await writeFile(
      join(root, "text_to_image.json"),
      JSON.stringify([{ input_prompt: "a castle", output_image: "x.png" }]),
    );
    const rows = [
      { input_prompt: "add snow", input_image: ["text_and_image_to_image/1.png"], output_image: "o.png" },
      { input_prompt: "add rain", input_image: ["text_and_image_to_image/2.png"], output_image: "o.png" },
    ];
    await writeFile(join(root, "text_and_image_to_image.json"), JSON.stringify(rows));
    const t2i = await loadPromptDataset(DatasetSchema.parse({ path: root }), "t2i");
    expect(t2i).toEqual([{ prompt: "a castle", sourceImage: null }]);
    const missing = await failure(loadPromptDataset(DatasetSchema.parse({ path: root }), "edit"));
    expect(missing.message).toMatch(/2 of 2 items name input images that are not on disk \(first: item 0, /);
    expect(missing.hint).toMatch(/extract the dataset's \*_part_N\.tar files into/);
    await mkdir(join(root, "text_and_image_to_image"));
    for (const n of [1, 2])
      await writeFile(join(root, `text_and_image_to_image/${n}.png`), await solidPng(n));
    const edit = await loadPromptDataset(DatasetSchema.parse({ path: root }), "edit");
    expect(edit.map((r) => r.sourceImage)).toEqual(
      [1, 2].map((n) => join(root, `text_and_image_to_image/${n}.png`)),
    );
  });

  it("format detection by extension, and clear errors for unknown extensions and missing files", async () => {
    expect(detectFormat("a.txt", "t2i")).toBe("text");
    expect(detectFormat("a.jsonl", "t2i")).toBe("jsonl");
    expect(detectFormat("a.jsonl", "edit")).toBe("edit-jsonl");
    expect(detectFormat("a.json", "t2i")).toBe("sharegpt-4o-image");
    expect(() => detectFormat("a.csv", "t2i")).toThrow(/cannot tell the dataset format/);
    const missing = await failure(
      loadPromptDataset(DatasetSchema.parse({ path: join(dir, "absent.txt") }), "t2i"),
    );
    expect(missing.message).toContain("dataset file not found");
    const empty = await failure(load("empty.txt", "# only a comment\n"));
    expect(empty.message).toContain("no usable prompts");
  });
});

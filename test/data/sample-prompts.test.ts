import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readSamplePrompts } from "../../src/data/sample-prompts.js";
import { DatasetError } from "../../src/errors.js";

function tmp(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "arr-sample-"));
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe("readSamplePrompts", () => {
  it("reads text prompts, skipping blanks and comments", async () => {
    const rows = await readSamplePrompts(tmp("p.txt", "# header\na red apple\n\n  a blue car  \n"));
    expect(rows.map((r) => r.prompt)).toEqual(["a red apple", "a blue car"]);
    expect(rows[0]?.metadata).toBeNull();
  });

  it("keeps GenEval metadata rows verbatim and resolves source images against the file", async () => {
    const file = tmp(
      "evaluation_metadata.jsonl",
      '{"tag": "counting", "include": [{"class": "cat", "count": 2}], "prompt": "a photo of two cats"}\n' +
        '{"instruction": "make it night", "source_image": "imgs/a.png"}\n',
    );
    const rows = await readSamplePrompts(file);
    expect(rows[0]?.prompt).toBe("a photo of two cats");
    expect(rows[0]?.metadata).toEqual({
      tag: "counting",
      include: [{ class: "cat", count: 2 }],
      prompt: "a photo of two cats",
    });
    expect(rows[1]?.sourceImage).toBe(join(file, "..", "imgs", "a.png"));
  });

  it("names the file and line of a bad row", async () => {
    const file = tmp("bad.jsonl", '{"prompt": "ok"}\n{"tag": "x"}\n');
    const error = await readSamplePrompts(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatasetError);
    expect((error as DatasetError).message).toBe(`${file}:2: no "prompt" string`);
    expect((error as DatasetError).line).toBe(2);
    const broken = tmp("broken.jsonl", "{nope\n");
    expect(((await readSamplePrompts(broken).catch((e: unknown) => e)) as Error).message).toMatch(
      /broken\.jsonl:1: not valid JSON/,
    );
  });

  it("refuses anything but GenEval metadata for the geneval layout, naming the line", async () => {
    const good = '{"tag": "counting", "include": [{"class": "cat", "count": 2}], "prompt": "two cats"}';
    const ok = await readSamplePrompts(tmp("g.jsonl", `${good}\n`), { layout: "geneval" });
    expect(ok).toHaveLength(1);
    const file = tmp("mixed.jsonl", `${good}\n{"prompt": "a dog"}\n`);
    const error = (await readSamplePrompts(file, { layout: "geneval" }).catch(
      (e: unknown) => e,
    )) as DatasetError;
    expect(error).toBeInstanceOf(DatasetError);
    expect(error.message).toBe(`${file}:2: not GenEval metadata (no "tag" string)`);
    expect(error.hint).toMatch(/djghosh13\/geneval/);
    await expect(readSamplePrompts(tmp("p.txt", "a dog\n"), { layout: "geneval" })).rejects.toThrow(
      /not GenEval metadata \(a text line/,
    );
  });
});

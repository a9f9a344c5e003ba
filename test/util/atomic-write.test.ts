import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { writeFileAtomic } from "../../src/util/atomic-write.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "arr-atomic-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("writeFileAtomic", () => {
  it("creates parent folders and leaves only the final file", async () => {
    const path = join(dir, "a", "b.json");
    await writeFileAtomic(path, "one");
    await writeFileAtomic(path, "two");
    expect(await readFile(path, "utf8")).toBe("two");
    expect(await readdir(join(dir, "a"))).toEqual(["b.json"]);
  });

  it("lets concurrent writers of the same content all succeed", async () => {
    const path = join(dir, "same.txt");
    await Promise.all(Array.from({ length: 8 }, () => writeFileAtomic(path, "x")));
    expect(await readFile(path, "utf8")).toBe("x");
    expect(await readdir(dir)).toEqual(["same.txt"]);
  });

  it("removes its temp file when the rename fails", async () => {
    // A folder in the way makes the rename fail after the temp file was written.
    const path = join(dir, "taken");
    await writeFileAtomic(join(path, "inner"), "x");
    await expect(writeFileAtomic(path, "y")).rejects.toThrow();
    expect(await readdir(dir)).toEqual(["taken"]);
  });
});

/**
 * The parquet reader on shards laid out as `datasets` writes them (test/support/benchmark_fixtures.py):
 * rows come out in order with their exact image bytes, whether a row group is read whole (no page
 * index) or a few pages at a time (page index), and the bytes stay valid after the reader has freed
 * the memory it read them into.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { openShards, type ParquetRow, readParquetRows } from "../../src/data/parquet.js";
import { makeReaderShards } from "../support/benchmark-fixtures.js";

let dir: string;
let digests: Record<string, string>;

beforeAll(async () => {
  dir = await makeReaderShards();
  digests = JSON.parse(await readFile(join(dir, "sha256.json"), "utf8"));
}, 600_000);

/** Every row of a shard, read to the end before any is looked at. */
async function readAll(name: string, sliceBytes?: number): Promise<ParquetRow[]> {
  const shards = await openShards([join(dir, name)], "test", ["id", "image"]);
  const rows: ParquetRow[] = [];
  for await (const row of readParquetRows(shards, undefined, sliceBytes)) rows.push(row);
  return rows;
}

function summary(rows: ParquetRow[]) {
  return rows.map((r) => {
    const { id, image } = r.value as { id: string; image: { bytes: Uint8Array } };
    return [r.row, id, createHash("sha256").update(image.bytes).digest("hex")];
  });
}

describe("readParquetRows", () => {
  const expected = () => Object.entries(digests).map(([id, sha], row) => [row, id, sha]);

  it("reads a snappy shard of several row groups (dictionary pages, no page index) with every image intact", async () => {
    expect(summary(await readAll("snappy.parquet"))).toEqual(expected());
    // Without a page index a row group is read whole, however small the slice asked for.
    expect(summary(await readAll("snappy.parquet", 1))).toEqual(expected());
  });

  it("reads a page-indexed shard a slice of rows at a time, the same rows as read whole", async () => {
    expect(summary(await readAll("paged.parquet", 1))).toEqual(expected());
    expect(summary(await readAll("paged.parquet", Number.POSITIVE_INFINITY))).toEqual(expected());
  });
});

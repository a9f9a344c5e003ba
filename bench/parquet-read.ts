/**
 * Child process of the parquet bench (bench/parquet.ts): reads one shard the way the benchmark
 * adapters do (row group by row group, every embedded image through the content-addressed store)
 * and prints rows, seconds, files written and peak RSS as JSON. A process of its own, so its peak
 * RSS is the reader's alone.
 */
import { embeddedImage, ImageStore } from "../src/data/image-store.js";
import { openShards, parquetRecords } from "../src/data/parquet.js";

const [shard, cacheDir] = process.argv.slice(2) as [string, string];
const store = new ImageStore(cacheDir);
const t0 = performance.now();
let rows = 0;
let bytes = 0;
const shards = await openShards([shard], "bench", ["id", "image"]);
for await (const record of parquetRecords(shards)) {
  const path = await embeddedImage((record.value as { image: unknown }).image, "image", store, cacheDir);
  if (path) bytes += (record.value as { image: { bytes: Uint8Array } }).image.bytes.byteLength;
  rows++;
}
const seconds = (performance.now() - t0) / 1000;
process.stdout.write(
  `${JSON.stringify({ rows, seconds, imageMB: bytes / 1e6, written: store.written, reused: store.reused, peakRssMB: process.resourceUsage().maxRSS / 1024 })}\n`,
);

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { benchJudge, idealPairsPerSecond, pairInputs } from "../../bench/judge.js";
import {
  type FixedServer,
  imageUrlLengths,
  rankByLength,
  startFixedServer,
} from "../../bench/lib/fixed-server.js";
import { photoLikePng } from "../../bench/lib/images.js";

describe("bench fixed-latency server", () => {
  let server: FixedServer;
  beforeAll(async () => {
    server = await startFixedServer(0);
  });
  afterAll(async () => {
    await server.close();
  });

  it("finds image URLs in a chat body and ranks the longest first", () => {
    const body = JSON.stringify({
      messages: [
        {
          content: [
            { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } },
            { type: "image_url", image_url: { url: "data:image/png;base64,AAAAAAAA" } },
          ],
        },
      ],
    });
    expect(imageUrlLengths(body)).toEqual([26, 30]);
    expect(rankByLength([26, 30])).toEqual([2, 1]);
    expect(rankByLength([5, 5, 9])).toEqual([2, 3, 1]);
  });

  it("ideal throughput is concurrency / latency, halved for two calls per pair", () => {
    expect(idealPairsPerSecond(32, 200)).toBe(160);
    expect(idealPairsPerSecond(8, 1000, 2)).toBe(4);
  });

  it("counts calls and bytes, holds each request for the latency, and lets a swap judge decide", async () => {
    const { mkdtemp, writeFile } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const dir = await mkdtemp(join(tmpdir(), "bench-test-"));
    const small = join(dir, "a.png");
    const big = join(dir, "b.png");
    await writeFile(small, await photoLikePng(32, 1));
    await writeFile(big, await photoLikePng(64, 2));
    server.setLatency(60);
    server.reset();
    const judge = benchJudge({ url: server.url, concurrency: 4, order: "swap" });
    const t0 = performance.now();
    const verdicts = await judge.compareMany(pairInputs([small, big], 4, "t"), { concurrency: 4 });
    const wall = performance.now() - t0;
    const stats = server.stats();
    expect(stats.requests).toBe(8); // 4 pairs x 2 orders
    expect(stats.images).toBe(16);
    expect(stats.peakInFlight).toBe(4);
    expect(stats.bodyBytes).toBeGreaterThan(8 * 2 * 1000);
    // two waves of 4 requests (4 pairs x 2 orders at concurrency 4), each held 60 ms
    expect(wall).toBeGreaterThanOrEqual(115);
    // the larger encoding wins in both orders: decided for candidate 1 (the 64 px image)
    for (const v of verdicts) {
      expect(v.outcome).toBe("decided");
      expect(v.winner).toBe(1);
    }
  });
});

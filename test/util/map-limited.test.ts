import { describe, expect, it } from "vitest";
import { mapLimited } from "../../src/util/map-limited.js";

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("mapLimited", () => {
  it("keeps input order and never exceeds the cap", async () => {
    let active = 0;
    let peak = 0;
    const out = await mapLimited([30, 5, 20, 1, 10, 2], 3, async (ms, i) => {
      active++;
      peak = Math.max(peak, active);
      await tick(ms);
      active--;
      return i * 10;
    });
    expect(out).toEqual([0, 10, 20, 30, 40, 50]);
    expect(peak).toBe(3);
  });

  it("stops queued work on the first failure and rethrows it after the tasks in flight finish", async () => {
    const started: number[] = [];
    const finished: number[] = [];
    const run = mapLimited([0, 1, 2, 3, 4, 5], 2, async (_x, i) => {
      started.push(i);
      if (i === 0) {
        await tick(1);
        throw new Error("first");
      }
      await tick(20);
      finished.push(i);
      return i;
    });
    await expect(run).rejects.toThrow("first");
    // Item 1 was in flight when item 0 failed: it ran to its end before the rejection.
    expect(started).toEqual([0, 1]);
    expect(finished).toEqual([1]);
  });

  it("handles an empty list and a cap larger than the list", async () => {
    expect(await mapLimited([], 4, async () => 1)).toEqual([]);
    expect(await mapLimited([1, 2], 64, async (x) => x + 1)).toEqual([2, 3]);
  });
});

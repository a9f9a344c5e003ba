import { describe, expect, it } from "vitest";
import {
  countProgress,
  EtaWindow,
  fitFields,
  formatCost,
  formatDuration,
  progressLine,
  SEPARATOR,
  trainFields,
  trainProgress,
} from "../../src/cli/progress.js";
import type { TrainProgress } from "../../src/train/train.js";

function progress(over: Partial<TrainProgress> = {}): TrainProgress {
  return {
    update: 12,
    totalUpdates: 500,
    rewardMean: 0.3125,
    loss: -0.01234,
    kl: 0.00051,
    clipFraction: 0.031,
    judge: { decided: 1840, tie: 120, invalid: 31, failed: 2, agreed: 1700, withAgreement: 1960 },
    calls: 4122,
    tokens: 10_512_000,
    cost: 3.14162,
    currency: "USD",
    split: { sampling: 12.3, judgeWait: 0.4, update: 8.9 },
    stepSeconds: 21.6,
    health: [],
    ...over,
  } as TrainProgress;
}

/** A stream stand-in that records what is written. */
function recorder(tty: boolean, columns?: number) {
  const writes: string[] = [];
  const stream = {
    isTTY: tty,
    columns,
    write: (s: string) => {
      writes.push(s);
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  return { stream, writes };
}

describe("EtaWindow", () => {
  it("ignores a slow start: the ETA follows the recent steps, not the time since launch", () => {
    // Start-up took 6 minutes before step 1 arrived; then a step every 3 s.
    const w = new EtaWindow(5);
    const launch = 0;
    w.push(1, launch + 360_000);
    w.push(2, launch + 363_000);
    w.push(3, launch + 366_000);
    // 7 steps left at 3 s each; averaging from launch would say 7 * 122 s.
    expect(w.eta(10)).toBeCloseTo(21, 6);
  });

  it("uses the measured step time until a second sample arrives, and says unknown without one", () => {
    const w = new EtaWindow();
    expect(w.eta(10)).toBeNull();
    w.push(1, 1000);
    expect(w.eta(10)).toBeNull();
    expect(w.eta(10, 2.5)).toBeCloseTo(22.5, 6);
  });

  it("forgets old samples: a slowdown shows within the window", () => {
    const w = new EtaWindow(4);
    for (let i = 1; i <= 10; i++) w.push(i, i * 1000);
    expect(w.eta(20)).toBeCloseTo(10, 6);
    for (let i = 11; i <= 14; i++) w.push(i, 10_000 + (i - 10) * 5000);
    // The last 4 samples span 3 steps of 5 s: 6 steps left -> 30 s.
    expect(w.eta(20)).toBeCloseTo(30, 6);
  });

  it("starts over when the count goes down (a second run) and ignores repeated counts", () => {
    const w = new EtaWindow();
    w.push(5, 0);
    w.push(5, 50_000);
    w.push(6, 1000);
    expect(w.eta(7)).toBeCloseTo(1, 6);
    w.push(1, 100_000);
    expect(w.eta(7)).toBeNull();
    w.push(2, 102_000);
    expect(w.eta(7)).toBeCloseTo(10, 6);
    expect(w.eta(2)).toBe(0);
  });
});

describe("fitFields", () => {
  it("drops whole fields from the end, never cuts one, and keeps the first", () => {
    const fields = ["step 1/10 10%", "eta 9s", "reward +0.500", "loss 0.1000"];
    const full = fields.join(SEPARATOR);
    expect(fitFields(fields)).toBe(full);
    expect(fitFields(fields, full.length)).toBe(full);
    expect(fitFields(fields, full.length - 1)).toBe(fields.slice(0, 3).join(SEPARATOR));
    expect(fitFields(fields, 22)).toBe("step 1/10 10% | eta 9s");
    expect(fitFields(fields, 21)).toBe("step 1/10 10%");
    expect(fitFields(fields, 5)).toBe("step ");
  });
});

describe("the training line", () => {
  it("keeps the ETA on a 100-column terminal and shows loss, KL, clip fraction and the cost's currency", () => {
    const fields = trainFields(progress(), 754);
    const full = fitFields(fields);
    expect(full.length).toBeGreaterThan(100);
    expect(full).toContain("loss -0.0123");
    expect(full).toContain("kl 0.0005");
    expect(full).toContain("clip 3.1%");
    expect(full).toContain("cost 3.1416 USD");
    const line = fitFields(fields, 99);
    expect(line.length).toBeLessThanOrEqual(99);
    expect(line).toMatch(/^step 12\/500 2% \| eta 12m34s \| reward \+0\.313 \| loss/);
  });

  it("shows the health flags that hold, or ok", () => {
    expect(fitFields(trainFields(progress(), 754))).toContain(" | health ok | ");
    const flagged = fitFields(trainFields(progress({ health: ["reward_hacking", "judge_agreement"] }), 754));
    expect(flagged).toContain(" | health !reward_hacking,!judge_agreement | ");
  });

  it("says when values are missing and leaves out a cost that was never priced", () => {
    const line = fitFields(
      trainFields(progress({ rewardMean: null, loss: null, kl: null, clipFraction: null, cost: 0 }), null),
    );
    expect(line).toContain("eta ?");
    expect(line).toContain("reward - | loss - | kl - | clip -");
    expect(line).not.toContain("cost");
  });

  it("redraws one line cut to the terminal width; logs go above it", () => {
    const { stream, writes } = recorder(true, 100);
    let now = 0;
    const p = trainProgress({ stream, now: () => now });
    p.update(progress({ update: 1, totalUpdates: 11, stepSeconds: 2 }));
    now += 4000;
    p.update(progress({ update: 2, totalUpdates: 11 }));
    p.log("checkpoint saved: ckpt-2");
    p.done();
    expect(writes[0]).toContain("eta 20s");
    // Measured between updates (4 s), not the workers' 2 s step time.
    expect(writes[1]).toContain("eta 36s");
    for (const w of writes.slice(0, 2)) expect(w.replace("\r\x1b[2K", "").length).toBeLessThanOrEqual(99);
    const clear = "\x1b[2K";
    expect(writes[2]?.startsWith(`\r${clear}checkpoint saved: ckpt-2\n${clear}step 2/11`)).toBe(true);
    expect(writes.at(-1)).toBe("\n");
  });
});

describe("piped progress", () => {
  it("prints full lines at most every everyMs, and the final state at the end", () => {
    const { stream, writes } = recorder(false);
    let now = 0;
    const c = countProgress("judge", { stream, now: () => now, everyMs: 5000 });
    c.update(0, 100);
    for (let i = 1; i <= 40; i++) {
      now += 250;
      c.update(i, 100, [`decided ${i}`]);
    }
    c.done();
    // t=0 and t=5 s (item 20) are printed; t=10 s (item 40) comes from done().
    expect(writes).toEqual([
      "judge 0/100 0% | eta ?\n",
      "judge 20/100 20% | eta 20s | decided 20\n",
      "judge 40/100 40% | eta 15s | decided 40\n",
    ]);
  });

  it("prints nothing when disabled, but still passes log lines through", () => {
    const { stream, writes } = recorder(false);
    const line = progressLine({ stream, enabled: false });
    line.update(["x"]);
    line.log("hello");
    line.done();
    expect(writes).toEqual(["hello\n"]);
  });
});

describe("formatting", () => {
  it("formats durations and costs", () => {
    expect(formatDuration(42.4)).toBe("42s");
    expect(formatDuration(187)).toBe("3m07s");
    expect(formatDuration(3900)).toBe("1h05m");
    expect(formatCost(0.012345, "EUR")).toBe("0.0123 EUR");
    expect(formatCost(1234.5, "USD")).toBe("1234.50 USD");
  });
});

import { describe, expect, it } from "vitest";
import { formatProgress, type TrainProgress } from "../../src/train/progress.js";

const base: TrainProgress = {
  update: 5,
  totalUpdates: 10,
  rewardMean: 0.25,
  judge: {
    submitted: 4,
    completed: 4,
    decided: 3,
    tie: 1,
    invalid: 0,
    failed: 0,
    agreed: 3,
    withAgreement: 4,
    cached: 0,
    consecutiveFailures: 0,
  },
  calls: 8,
  tokens: 100,
  cost: 0,
  split: null,
  elapsed: 10,
  startUpdate: 0,
  health: [],
};

describe("formatProgress", () => {
  it("shows the health flags that hold, or ok", () => {
    expect(formatProgress(base)).toContain("| health ok |");
    const flagged = formatProgress({ ...base, health: ["reward_hacking", "judge_agreement"] });
    expect(flagged).toContain("| health !reward_hacking,!judge_agreement |");
    expect(flagged).toMatch(/step 5\/10 \(50%\).*agree 75%.*eta 10s$/);
  });
});

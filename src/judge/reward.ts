/**
 * The only rank -> reward mapping (training and evaluation both import it).
 * Paper §3 / reference: two candidates, winner +1.0 and loser -0.1; N candidates, linear from +1.0
 * (rank 1) to -0.1 (rank N): r = 1 - 1.1 * (rank - 1) / (N - 1). Ties and invalid verdicts never
 * reach the formula (the reference's [1, 1] for a tie is a defect): they follow a policy.
 */
import { isPermutation } from "./orders.js";

/** Reward of the best and of the worst candidate (config `train.rpo.win_reward` / `lose_reward`). */
export interface RewardScale {
  win: number;
  lose: number;
}

export const DEFAULT_REWARD_SCALE: RewardScale = { win: 1.0, lose: -0.1 };

/** Rewards for a valid ranking (a permutation of 1..N, N >= 2); throws on anything else. */
export function rankRewards(rank: readonly number[], scale: RewardScale = DEFAULT_REWARD_SCALE): number[] {
  const n = rank.length;
  if (n < 2 || !isPermutation(rank, n)) {
    throw new RangeError(`rankRewards needs a permutation of 1..N with N >= 2, got ${JSON.stringify(rank)}`);
  }
  // Written as a convex combination so rank 1 and rank N give exactly win and lose (no -0.10000000000000009).
  return rank.map((r) => {
    const t = (r - 1) / (n - 1);
    return scale.win * (1 - t) + scale.lose * t;
  });
}

/** What a tie gives: nothing (no advantage either way), or every candidate the mean rank reward. */
export type TiePolicy = "zero" | "mean";

/**
 * A ranking turned around: the best becomes the worst (rank r of N becomes N + 1 - r). Rewarding it
 * instead of the judged ranking gives a control run whose every verdict points the other way.
 */
export function reverseRanking(ranking: readonly number[]): number[] {
  return ranking.map((r) => ranking.length + 1 - r);
}

export interface VerdictRewardOptions {
  tie?: TiePolicy;
  scale?: RewardScale;
  /** Reward the reversed ranking (a control run); ties and invalid verdicts are unchanged. */
  reversed?: boolean;
}

/** Rewards for a verdict outcome; ties and invalid verdicts follow their policies (never the formula). */
export function verdictRewards(
  outcome: "decided" | "tie" | "invalid",
  ranking: readonly number[] | null,
  n: number,
  options: VerdictRewardOptions = {},
): number[] {
  const scale = options.scale ?? DEFAULT_REWARD_SCALE;
  if (outcome === "decided") {
    if (!ranking) throw new RangeError("a decided verdict needs a ranking");
    return rankRewards(options.reversed ? reverseRanking(ranking) : ranking, scale);
  }
  if (outcome === "tie" && options.tie === "mean") {
    const mean = (scale.win + scale.lose) / 2; // the linear map's mean over ranks 1..N
    return new Array<number>(n).fill(mean);
  }
  return new Array<number>(n).fill(0);
}

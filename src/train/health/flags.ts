/**
 * Health flags: signals beside the reward that the policy is pleasing the judge rather than getting
 * better, or that the judge itself is failing. Each rule is a pure function in its own file
 * (reward-hacking.ts, diversity.ts, judge-drift.ts); monitor.ts applies them during a run.
 */
import type { HealthFlagName } from "../../config/schema.js";

export type { HealthFlagName };

/** One rule's verdict at one update. */
export interface FlagCheck {
  flag: HealthFlagName;
  /** The rule holds now. */
  raised: boolean;
  /** The numbers behind the verdict, in words (shown when raised). */
  reason: string;
}

/** A flag as the run records it: raised at an update, with its reason. */
export interface RaisedFlag {
  flag: HealthFlagName;
  update: number;
  reason: string;
}

/** The progress line's health field: the flags holding now, or "ok". */
export function formatFlags(flags: readonly HealthFlagName[]): string {
  return flags.length === 0 ? "ok" : flags.map((f) => `!${f}`).join(",");
}

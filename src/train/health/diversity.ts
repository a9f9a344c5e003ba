/**
 * Diversity collapse: the policy's samples for one prompt stop differing across seeds.
 *
 * At an eval point the workers sample every eval prompt at `diversity.seeds` seeds, with the LoRA
 * and with it off (the base model, same seeds), and report per prompt the spread of the judged
 * latents: the mean over seed pairs of the RMS distance between them (py-runtime worker
 * `latent_spread`). Because base and current share prompts and seeds, the ratio of their mean
 * spreads compares like with like.
 *
 * Rule: raised when mean(current spread) < min_ratio x mean(base spread).
 */
import type { FlagCheck } from "./flags.js";

export interface DiversityCheck extends FlagCheck {
  /** mean(current) / mean(base); null when there is nothing to compare. */
  ratio: number | null;
  base: number | null;
  current: number | null;
}

export function checkDiversity(
  spread: { base: readonly (number | null)[]; current: readonly (number | null)[] },
  minRatio: number,
): DiversityCheck {
  const base = mean(spread.base);
  const current = mean(spread.current);
  const ratio = base !== null && current !== null && base > 0 ? current / base : null;
  const raised = ratio !== null && ratio < minRatio;
  const reason =
    ratio === null
      ? "diversity not measured"
      : `spread across seeds ${current?.toPrecision(3)} vs base ${base?.toPrecision(3)} (${(100 * ratio).toFixed(0)}%, floor ${(100 * minRatio).toFixed(0)}%)`;
  return { flag: "diversity_collapse", raised, reason, ratio, base, current };
}

function mean(values: readonly (number | null)[]): number | null {
  const finite = values.filter((v): v is number => v !== null && Number.isFinite(v));
  return finite.length === 0 ? null : finite.reduce((s, v) => s + v, 0) / finite.length;
}

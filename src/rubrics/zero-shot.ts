/**
 * Zero-shot rubrics (the paper's zero-shot setting, which the reference release lacks): K criteria
 * from the task description alone, then the same structure step as seeded induction.
 */
import type { ImageEncoding } from "../config/schema.js";
import { RubricError } from "../errors.js";
import { ask } from "./call-cache.js";
import type { InduceOptions, InductionResult } from "./induce.js";
import { zeroShotRequest } from "./prompts.js";
import { criteriaParser, dedupe, finish, startRun, structure } from "./run.js";

/** Options of zero-shot induction: no pairs, no verifier. */
export type ZeroShotOptions = Omit<InduceOptions, "pairs" | "judge" | "verifier" | "seeds" | "image"> & {
  image?: ImageEncoding;
};

/**
 * Zero-shot rubrics (the paper's zero-shot setting): K criteria from the task description alone,
 * then the same structure step. Nothing is verified, and provenance says so.
 */
export async function induceZeroShot(options: ZeroShotOptions): Promise<InductionResult> {
  const cfg = options.config;
  const description = cfg.task_description?.trim();
  if (!description) {
    throw new RubricError("zero-shot induction needs induction.task_description", {
      hint: 'set induction.task_description, e.g. --set induction.task_description="Compare ..."',
    });
  }
  const { ctx } = startRun(options);
  const r = await ask(
    ctx,
    "zero-shot",
    zeroShotRequest({
      task: cfg.task,
      language: cfg.language,
      count: cfg.criteria_per_pair,
      taskDescription: description,
    }),
    criteriaParser(cfg.criteria_per_pair),
  );
  if (!r.ok) {
    throw new RubricError(
      `zero-shot induction: no valid criteria after ${cfg.max_retries + 1} attempts (${r.reason})`,
      {
        hint: "check that the model follows JSON instructions (vlm.structured_output), or raise induction.max_retries",
      },
    );
  }
  const criteria = dedupe(r.value);
  options.onProgress?.({ stage: "structure", total: 0, done: 0, passed: 0, dropped: 0, failed: 0 });
  const { themes, categorization } = await structure(criteria, options, ctx);
  const full = { ...options, pairs: [] } as InduceOptions;
  const result = finish(
    full,
    "zero-shot",
    criteria,
    themes,
    { pairs: [], stats: null, seeds: null, categorization, judge_model: null, judgeTemplate: null },
    ctx.tally,
  );
  options.onProgress?.({ stage: "done", total: 0, done: 0, passed: 0, dropped: 0, failed: 0 });
  return result;
}

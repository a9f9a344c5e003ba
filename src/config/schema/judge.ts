/** The `judge` (rubric-conditioned comparisons) and `induction` (ARR rubric induction) sections. */
import { z } from "zod";
import { BudgetSchema, httpUrl, LanguageSchema, nonNegativeInt, positiveInt, TaskSchema } from "./common.js";

/**
 * A second judge that audits the policy at each `train.eval_every`: another model, endpoint or
 * rubric. It exists when at least one field is set; a null field takes the training judge's value
 * (vlm.* or judge.rubric_file). Every field null (the default): no audit judge.
 */
export const AuditJudgeSchema = z
  .object({
    provider: z
      .enum(["openai-compatible", "referee"])
      .nullable()
      .default(null)
      .describe("the audit VLM's provider (null: vlm.provider)"),
    model: z
      .string()
      .min(1)
      .nullable()
      .default(null)
      .describe("the audit VLM's model name (null: vlm.model)"),
    base_url: z
      .union([httpUrl(), z.array(httpUrl()).min(1)])
      .nullable()
      .default(null)
      .describe("the audit VLM's endpoint or replicas (null: vlm.base_url)"),
    api_key_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name")
      .nullable()
      .default(null)
      .describe("NAME of the env var holding the audit endpoint's API key (null: vlm.api_key_env)"),
    rubric_file: z
      .string()
      .nullable()
      .default(null)
      .describe("rubric the audit judge is conditioned on (null: judge.rubric_file)"),
  })
  .strict();

/** Whether `judge.audit` names an audit judge (any field set). */
export function hasAuditJudge(audit: z.infer<typeof AuditJudgeSchema>): boolean {
  return Object.values(audit).some((value) => value !== null);
}

/** How candidates are presented to the judge (position bias). */
export const OrderPolicySchema = z.enum(["single", "swap", "random"]);

export const JudgeSchema = z
  .object({
    task: TaskSchema.default("t2i"),
    order: OrderPolicySchema.default("swap").describe(
      "single: as given; swap: both orders, agreement decides; random: one random order, recorded",
    ),
    tie_policy: z
      .enum(["zero", "mean"])
      .default("zero")
      .describe(
        "rewards reported for a tie: zero for every candidate, or the mean of the rank rewards (RPO training always gives ties zero advantage)",
      ),
    invalid_policy: z
      .enum(["zero", "fail"])
      .default("zero")
      .describe("an unparseable verdict: zero reward for every candidate (counted), or stop with an error"),
    reask: nonNegativeInt().default(2).describe("re-asks when a rank is not a permutation of 1..N"),
    rubric_file: z
      .string()
      .nullable()
      .default(null)
      .describe("rubric file (YAML/JSON) the judge is conditioned on"),
    task_description: z.string().nullable().default(null).describe("optional brief shown to the judge"),
    language: LanguageSchema.default("en"),
    cache_dir: z
      .string()
      .nullable()
      .default(".arr-cache")
      .describe("verdict cache directory (null: no cache)"),
    budget: BudgetSchema.default(BudgetSchema.parse({})),
    seed: z.number().int().default(0).describe("seed for the random order policy"),
    concurrency: positiveInt()
      .default(16)
      .describe(
        "comparisons in flight at once: `arr judge`, `arr eval` (--concurrency overrides) and the reward service while training; each takes one VLM request per order, under vlm.concurrency",
      ),
    // A second judge at each train.eval_every (every field null: none; the reward-hacking flag needs one).
    audit: AuditJudgeSchema.default(AuditJudgeSchema.parse({})),
  })
  .strict();

/** The judge section's defaults, for library calls made without a config (e.g. `evaluate()`). */
export const JUDGE_DEFAULTS = JudgeSchema.parse({});

export const InductionSchema = z
  .object({
    task: TaskSchema.default("t2i"),
    criteria_per_pair: positiveInt()
      .default(5)
      .describe("K criteria generated per seed pair (paper default 5)"),
    max_epochs: nonNegativeInt()
      .default(5)
      .describe(
        "blind verification rounds per pair (a refinement between rounds) before its criteria are dropped",
      ),
    max_retries: nonNegativeInt()
      .default(5)
      .describe("re-asks when a generation or refinement reply is malformed"),
    categorize: z.boolean().default(true).describe("merge verified criteria into themes with tips"),
    categories: positiveInt().default(5).describe("at most this many themes"),
    language: LanguageSchema.default("en"),
    task_description: z
      .string()
      .nullable()
      .default(null)
      .describe("optional brief of the task shown to the VLM while inducing"),
    concurrency: positiveInt()
      .default(8)
      .describe("seed pairs induced at once; their VLM calls queue under vlm.concurrency"),
    budget: BudgetSchema.default(BudgetSchema.parse({})),
  })
  .strict();

/**
 * The single source of truth for every autorubric config, one file per section under schema/.
 * Each leaf field carries a `.describe()` (CLI help, `arr config show --explain`, JSON Schema);
 * TypeScript types are derived with `z.infer`. Defaults live here and nowhere else: Python gets the
 * resolved values (src/runtime/payload.ts), library code reads the config it is given.
 *
 * Every object is `.strict()`, so a misspelt key is an error, never a silent default. Rules that
 * span fields run with the schema (schema/rules.ts), so validation rejects what a worker would.
 */
import { z } from "zod";
import type { BudgetSchema, ImageEncodingSchema, PriceSchema, TaskSchema } from "./schema/common.js";
import {
  type AuditJudgeSchema,
  InductionSchema,
  JudgeSchema,
  type OrderPolicySchema,
} from "./schema/judge.js";
import { checkCrossFieldRules } from "./schema/rules.js";
import {
  type DatasetSchema,
  type DistributedSchema,
  type HealthFlagSchema,
  type HealthSchema,
  type JudgeHealthSchema,
  type LoraSchema,
  type ModelSchema,
  type OptimSchema,
  type PipelineSchema,
  type RpoSchema,
  type SamplerSchema,
  type ServiceSchema,
  TrainSchema,
} from "./schema/train.js";
import { VlmSchema } from "./schema/vlm.js";

export * from "./schema/common.js";
export * from "./schema/judge.js";
export { trainedSteps } from "./schema/rules.js";
export * from "./schema/train.js";
export * from "./schema/vlm.js";

/** Experiment trackers training logs to, besides the run's own metrics.jsonl. */
export const TrackerSchema = z.enum(["tensorboard", "wandb"]);

export const WandbSchema = z
  .object({
    project: z.string().min(1).default("autorubric").describe("Weights & Biases project of the run"),
    entity: z
      .string()
      .min(1)
      .nullable()
      .default(null)
      .describe("Weights & Biases team or user (null: the API key's default entity)"),
  })
  .strict();

export const RunSchema = z
  .object({
    name: z.string().min(1).default("arr-run").describe("prefix of run directory names"),
    output_dir: z.string().default("runs").describe("parent directory of run directories"),
    seed: z.number().int().default(42).describe("seed recorded in a run's manifest"),
    log_level: z
      .enum(["error", "warn", "info", "debug"])
      .default("info")
      .describe("how much the CLI logs to stderr"),
    trackers: z
      .array(TrackerSchema)
      .refine((list) => new Set(list).size === list.length, "each tracker at most once")
      .default(["tensorboard"])
      .describe(
        "experiment trackers training logs scalars and eval grids to: tensorboard (event files in <run>/tensorboard, works offline) and wandb (Weights & Biases; WANDB_MODE=offline logs without network, `wandb sync` uploads later)",
      ),
    wandb: WandbSchema.default(WandbSchema.parse({})).describe("used when run.trackers contains wandb"),
  })
  .strict();

/** A fully resolved config: every section present, every default filled in. */
export const ConfigSchema = z
  .object({
    run: RunSchema.default(RunSchema.parse({})),
    vlm: VlmSchema.optional().describe("the VLM used for induction and judging"),
    judge: JudgeSchema.default(JudgeSchema.parse({})),
    induction: InductionSchema.default(InductionSchema.parse({})),
    train: TrainSchema.optional(),
  })
  .strict()
  .superRefine(checkCrossFieldRules);

export type Price = z.infer<typeof PriceSchema>;
export type Budget = z.infer<typeof BudgetSchema>;
export type ImageEncoding = z.infer<typeof ImageEncodingSchema>;
export type VlmConfig = z.infer<typeof VlmSchema>;
export type Task = z.infer<typeof TaskSchema>;
export type OrderPolicy = z.infer<typeof OrderPolicySchema>;
export type JudgeConfig = z.infer<typeof JudgeSchema>;
export type InductionConfig = z.infer<typeof InductionSchema>;
export type ModelConfig = z.infer<typeof ModelSchema>;
export type LoraConfig = z.infer<typeof LoraSchema>;
export type SamplerConfig = z.infer<typeof SamplerSchema>;
export type RpoConfig = z.infer<typeof RpoSchema>;
export type OptimConfig = z.infer<typeof OptimSchema>;
export type PipelineConfig = z.infer<typeof PipelineSchema>;
export type DatasetConfig = z.infer<typeof DatasetSchema>;
export type DistributedConfig = z.infer<typeof DistributedSchema>;
export type ServiceConfig = z.infer<typeof ServiceSchema>;
export type TrainConfig = z.infer<typeof TrainSchema>;
export type HealthConfig = z.infer<typeof HealthSchema>;
export type JudgeHealthConfig = z.infer<typeof JudgeHealthSchema>;
export type HealthFlagName = z.infer<typeof HealthFlagSchema>;
export type AuditJudgeConfig = z.infer<typeof AuditJudgeSchema>;
export type RunConfig = z.infer<typeof RunSchema>;
export type Tracker = z.infer<typeof TrackerSchema>;
export type Config = z.infer<typeof ConfigSchema>;

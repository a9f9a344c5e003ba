/**
 * What TypeScript sends to Python: the workers' `run.json`, the bridge's `sample` op arguments and
 * the tracker process's `tracking.json`.
 *
 * All are built here, from the resolved config, by one function each, and carry only the fields
 * Python reads; py-runtime/autorubric_runtime/run_config.py parses them into frozen dataclasses
 * with every field required and unknown keys rejected, so Python never invents a value.
 * test/config/worker-payload.test.ts fails when a field exists on one side only.
 *
 * Adding a config field that the workers read: one line with `.describe()` in the zod schema
 * (src/config/schema/), one field in the matching dataclass in run_config.py. A field that only
 * TypeScript reads goes into the section's `omit` list below instead.
 */
import { z } from "zod";
import { redactSecrets } from "../config/dump.js";
import {
  type Config,
  DatasetSchema,
  DistributedSchema,
  DiversityHealthSchema,
  ModelSchema,
  OptimSchema,
  RpoSchema,
  SamplerSchema,
  TaskSchema,
  TrackerSchema,
  type TrainConfig,
  TrainSchema,
  WandbSchema,
} from "../config/schema.js";

/** `run.json`: the `train` fields the workers read, plus where the run lives and how to reach the service. */
export const WorkerConfigSchema = TrainSchema.omit({
  dataset: true,
  rpo: true,
  optim: true,
  distributed: true,
  service: true,
  health: true,
})
  .extend({
    // The prompts arrive normalised in prompts_file; only the shuffle flag matters to the workers.
    dataset: DatasetSchema.pick({ shuffle: true }),
    // The reward scale is applied by the reward service (TypeScript) before the workers see rewards.
    rpo: RpoSchema.omit({ win_reward: true, lose_reward: true }),
    // One scheduler exists; the workers implement it.
    optim: OptimSchema.omit({ scheduler: true }),
    // World size and rendezvous are torchrun's arguments (src/runtime/torchrun.ts); the node's rank
    // orders the global ranks (node 0 holds rank 0) and says, with shared_run_dir, who writes what.
    distributed: DistributedSchema.pick({
      strategy: true,
      backend: true,
      node_rank: true,
      shared_run_dir: true,
    }),
    // The workers only sample the eval prompts at more seeds; every health rule runs in TypeScript.
    health: z.object({ diversity: DiversityHealthSchema.pick({ seeds: true }) }).strict(),
    service: z
      .object({
        url: z.string().describe("the reward service's URL"),
        token: z
          .string()
          .nullable()
          .describe("null: the workers read ARR_SERVICE_TOKEN (a token never goes in a file)"),
      })
      .strict(),
    run_dir: z.string().describe("the run directory (checkpoints/, samples/, grids/)"),
    prompts_file: z.string().describe("prompts.jsonl, rows {prompt, source_image}"),
    judge_task: TaskSchema,
    resume: z.boolean().describe("continue from <run_dir>/checkpoints/latest"),
  })
  .strict();
export type WorkerConfig = z.infer<typeof WorkerConfigSchema>;

/** Where a run lives; the rest of `run.json` comes from the config. */
export interface WorkerRun {
  runDir: string;
  promptsFile: string;
  resume: boolean;
  serviceUrl: string;
}

/** The `run.json` of a run: the fields of `config.train` the workers read, nothing else. */
export function workerConfig(config: Config & { train: TrainConfig }, run: WorkerRun): WorkerConfig {
  const { train } = config;
  const { win_reward: _win, lose_reward: _lose, ...rpo } = train.rpo;
  const { scheduler: _scheduler, ...optim } = train.optim;
  const { dataset, distributed, service: _service, health, ...rest } = train;
  return {
    ...rest,
    dataset: { shuffle: dataset.shuffle },
    rpo,
    optim,
    distributed: {
      strategy: distributed.strategy,
      backend: distributed.backend,
      node_rank: distributed.node_rank,
      shared_run_dir: distributed.shared_run_dir,
    },
    health: { diversity: { seeds: health.diversity.seeds } },
    service: { url: run.serviceUrl, token: null },
    run_dir: run.runDir,
    prompts_file: run.promptsFile,
    judge_task: config.judge.task,
    resume: run.resume,
  };
}

/** The `sample` op's arguments (api.py); see src/runtime/sample.ts for the semantics. */
export const SampleRequestSchema = z
  .object({
    model: ModelSchema,
    sampler: SamplerSchema,
    lora_dir: z.string().nullable().describe("a trained LoRA directory, or null for the base model"),
    prompts: z
      .array(z.union([z.string(), z.record(z.string(), z.unknown())]))
      .describe("text prompts, or GenEval metadata objects (copied verbatim)"),
    seeds: z.array(z.number().int()).describe("one per prompt: image j of prompt i uses seeds[i] + j"),
    out_dir: z.string().describe("output directory (absolute)"),
    source_images: z.array(z.string()).nullable().describe("one source image per prompt for editing models"),
    layout: z
      .enum(["flat", "geneval"])
      .describe("flat: <i>_<j>.png + index.jsonl; geneval: GenEval's layout"),
    images_per_prompt: z.number().int().positive().describe("images per prompt"),
  })
  .strict();
export type SampleRequest = z.infer<typeof SampleRequestSchema>;

/** The `sample` op's arguments for the model and sampler of `train`. */
export function sampleRequest(
  train: TrainConfig,
  args: Omit<SampleRequest, "model" | "sampler">,
): SampleRequest {
  return { model: train.model, sampler: train.sampler, ...args };
}

/** `tracking.json`: what `python -m autorubric_runtime.tracking` reads (src/train/tracking.ts starts it). */
export const TrackingPayloadSchema = z
  .object({
    trackers: z.array(TrackerSchema).describe("the run's run.trackers"),
    tensorboard_dir: z.string().describe("<run>/tensorboard"),
    wandb: WandbSchema.extend({
      name: z.string().describe("the run directory's name"),
      id: z.string().describe("W&B run id, kept over resumes so they continue the same W&B run"),
      dir: z.string().describe("<run> (W&B writes its wandb/ folder inside)"),
    }).strict(),
    config: z.record(z.string(), z.unknown()).describe("the resolved config, logged as the W&B run config"),
  })
  .strict();
export type TrackingPayload = z.infer<typeof TrackingPayloadSchema>;

/** The tracker payload of a run in `dir`; `wandbId` is the run's (kept across resumes by the caller). */
export function trackingPayload(
  config: Config,
  run: { dir: string; name: string; tensorboardDir: string; wandbId: string },
): TrackingPayload {
  return {
    trackers: config.run.trackers,
    tensorboard_dir: run.tensorboardDir,
    wandb: { ...config.run.wandb, name: run.name, id: run.wandbId, dir: run.dir },
    config: redactSecrets(config),
  };
}

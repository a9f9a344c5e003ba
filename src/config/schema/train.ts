/**
 * The `train` section: RPO of an image generator (model, LoRA, sampler, loss, optimizer, data,
 * processes, reward service). Defaults are the paper's values where it has one (arXiv 2605.08354,
 * Table 3 and the reference launch scripts); the presets in `configs/` override them per model.
 * The fields the Python workers read travel in run.json (src/runtime/payload.ts).
 */
import { z } from "zod";
import { nonNegativeInt, positiveInt, probability } from "./common.js";

/** LoRA targets: the reference release's attention projections, or the wider set of the published adapters. */
export const LoraTargetsSchema = z.union([
  z.enum(["attention", "extended"]),
  z.array(z.string().min(1)).min(1),
]);

export const ModelSchema = z
  .object({
    family: z
      .enum(["flux", "qwen-edit"])
      .describe("flux: FLUX.1-dev text-to-image; qwen-edit: Qwen-Image-Edit-2509"),
    path: z
      .string()
      .min(1)
      .describe("hub id or local directory for from_pretrained, or 'tiny' for the offline random tiny model"),
    dtype: z.enum(["auto", "float32", "bfloat16"]).default("auto").describe("auto: bf16 on GPU, fp32 on CPU"),
  })
  .strict();

/** Why dropout is pinned to 0: see its description. */
export const LORA_DROPOUT_REASON =
  "LoRA dropout never applies: the transformer runs in eval mode in rollout, reference and update (so the first update's ratio is exactly 1); set 0";

export const LoraSchema = z
  .object({
    rank: positiveInt().default(16).describe("LoRA rank r (paper: 16 for FLUX, 32 for Qwen-Edit)"),
    alpha: z.number().positive().default(32).describe("LoRA alpha; the update is scaled by alpha/rank"),
    dropout: probability()
      .refine((p) => p === 0, { message: LORA_DROPOUT_REASON })
      .default(0)
      .describe(`LoRA dropout probability; only 0 is accepted (${LORA_DROPOUT_REASON.split(";")[0]})`),
    targets: LoraTargetsSchema.default("attention").describe(
      "attention: to_q/to_k/to_v/to_out.0 (reference scripts); extended: also the MLP projections; or module names",
    ),
    init_from: z.string().nullable().default(null).describe("start from an existing LoRA directory"),
  })
  .strict();

export const SamplerSchema = z
  .object({
    steps: z.number().int().min(2).default(8).describe("denoising steps S"),
    eta: z
      .number()
      .min(0)
      .refine((eta) => eta > 0, {
        message: "must be > 0 for training: the deterministic step (eta 0) has no log-prob to train",
      })
      .default(0.3)
      .describe("SDE noise level (std = eta*sqrt(sigma - sigma_next)); > 0, training needs log-probs"),
    shift: z.number().positive().default(3).describe("static sigma shift"),
    guidance: z.number().nonnegative().default(3.5).describe("FLUX guidance embedding value"),
    height: positiveInt().default(512).describe("image height in pixels (a multiple of 16)"),
    width: positiveInt().default(512).describe("image width in pixels (a multiple of 16)"),
    candidates: z.number().int().min(2).max(8).default(2).describe("candidates sampled per prompt"),
    same_init_noise: z.boolean().default(true).describe("candidates of a prompt share their initial noise"),
    judged_image: z
      .enum(["x0_last", "final"])
      .default("x0_last")
      .describe("x0_last: x0 predicted at the last step (the paper's code); final: the last SDE sample"),
    seed: z.number().int().default(1223627).describe("sampler seed"),
  })
  .strict();

export const RpoSchema = z
  .object({
    clip_range: z.number().gt(0).lt(1).default(0.2).describe("PPO clip epsilon"),
    kl_beta: z
      .number()
      .nonnegative()
      .default(0.01)
      .describe("weight of the KL to the LoRA-off reference (the estimator is kl_estimator)"),
    kl_estimator: z
      .enum(["closed_form", "sample"])
      .default("closed_form")
      .describe(
        "closed_form: per-element KL between the policy's and the reference's Gaussian step means " +
          "(same std), (mu - mu_ref)^2 / (2 std^2), whose gradient pulls toward the reference; " +
          "sample: the paper's kl_beta * (logp - logp_ref) on the policy's own sample, an unbiased " +
          "KL value whose expected gradient is zero (noise, no pull); kept to reproduce the paper",
      ),
    adv_clip: z.number().positive().default(5).describe("advantages clamped to +-adv_clip"),
    timestep_fraction: z
      .number()
      .gt(0)
      .max(1)
      .default(1)
      .describe(
        "fraction of transitions (last excluded) trained: floor((steps - 1) x fraction) per sample, at least 1",
      ),
    win_reward: z.number().default(1).describe("advantage of the judged winner of a pair"),
    lose_reward: z.number().default(-0.1).describe("advantage of the judged loser of a pair"),
  })
  .strict();

export const PipelineSchema = z
  .object({
    depth: z
      .union([z.literal(0), z.literal(1)])
      .default(0)
      .describe(
        "0: each step waits for the verdicts on the batch it has just sampled (on-policy, ratio 1); " +
          "1: the workers sample step k+1 while the judge scores step k, which then trains on " +
          "log-probs one update old (the clipped surrogate bounds the step): the judge's latency " +
          "leaves the critical path",
      ),
  })
  .strict();

export const OptimSchema = z
  .object({
    lr: z
      .number()
      .positive()
      .default(5e-5)
      .describe("AdamW learning rate (paper: 5e-5 FLUX, 1e-5 Qwen-Edit)"),
    weight_decay: z.number().nonnegative().default(1e-4).describe("AdamW weight decay"),
    betas: z.tuple([probability(), probability()]).default([0.9, 0.999]).describe("AdamW [beta1, beta2]"),
    eps: z.number().positive().default(1e-8).describe("AdamW epsilon"),
    grad_clip: z
      .number()
      .positive()
      .default(1)
      .describe("max global gradient norm before each optimizer step"),
    warmup_steps: nonNegativeInt().default(0).describe("optimizer updates of linear warmup"),
    scheduler: z
      .enum(["constant_with_warmup"])
      .default("constant_with_warmup")
      .describe("learning-rate schedule: linear warmup over warmup_steps, then constant"),
  })
  .strict();

export const DatasetSchema = z
  .object({
    path: z
      .string()
      .min(1)
      .describe("prompts (.txt one per line, or .jsonl), edit JSONL, or ShareGPT-4o-Image JSON"),
    format: z
      .enum(["auto", "text", "jsonl", "edit-jsonl", "sharegpt-4o-image"])
      .default("auto")
      .describe("how to read path (auto: by extension and content)"),
    shuffle: z.boolean().default(true).describe("shuffle the prompts each epoch (seeded by train.seed)"),
    drop_cjk: z
      .boolean()
      .default(false)
      .describe("drop prompts containing CJK characters (the reference does)"),
    limit: positiveInt().nullable().default(null).describe("use only the first N prompts (null: all)"),
  })
  .strict();

export const DistributedSchema = z
  .object({
    nproc_per_node: z
      .number()
      .int()
      .min(1)
      .max(8)
      .default(1)
      .describe("worker processes per node, one per GPU (`arr doctor` warns when more than it sees)"),
    nnodes: positiveInt().default(1).describe("nodes in the run (> 1 needs rdzv_endpoint)"),
    node_rank: nonNegativeInt()
      .default(0)
      .describe(
        "this node's rank among nnodes: 0 owns the run (`arr train`), the others join it (`arr train --join`)",
      ),
    rdzv_endpoint: z
      .string()
      .nullable()
      .default(null)
      .describe("host:port of torchrun's rendezvous (required when nnodes > 1)"),
    max_restarts: nonNegativeInt()
      .default(0)
      .describe(
        "times torchrun restarts a failed worker group; a restarted group resumes from the latest checkpoint",
      ),
    strategy: z.enum(["ddp", "fsdp"]).default("ddp").describe("ddp: replicate the model; fsdp: shard it"),
    shared_run_dir: z
      .boolean()
      .default(false)
      .describe(
        "true: every node sees node 0's run directory at the same path (a shared filesystem); false: each joining node keeps its own copy, holding its ranks' checkpoint state",
      ),
    backend: z.enum(["auto", "nccl", "gloo"]).default("auto").describe("auto: nccl on GPU, gloo on CPU"),
  })
  .strict();

export const ServiceSchema = z
  .object({
    bind: z
      .string()
      .default("127.0.0.1")
      .describe("address of the reward service (0.0.0.0 for several nodes)"),
    port: nonNegativeInt().max(65535).default(0).describe("0: a random free port"),
    outage_seconds: z
      .number()
      .nonnegative()
      .default(300)
      .describe(
        "seconds during which every judgement failed (no success in between) before the run checkpoints and stops",
      ),
  })
  .strict();

/** The health flags (src/train/health/): what each means is in README "Training health". */
export const HealthFlagSchema = z.enum([
  "reward_hacking",
  "diversity_collapse",
  "judge_agreement",
  "judge_ties",
  "judge_invalid",
  "judge_latency",
]);

export const DiversityHealthSchema = z
  .object({
    seeds: z
      .number()
      .int()
      .min(1)
      .max(16)
      .default(2)
      .describe(
        "seeds per eval prompt sampled at each eval_every (base and current) to measure the spread of the latents (1: not measured)",
      ),
    min_ratio: probability()
      .default(0.5)
      .describe("diversity_collapse when the current spread falls below this fraction of the base model's"),
  })
  .strict();

export const JudgeHealthSchema = z
  .object({
    baseline_updates: positiveInt()
      .default(10)
      .describe("the run's first N updates whose judgements are the judge's baseline"),
    window_updates: positiveInt()
      .default(5)
      .describe("the latest N updates compared with the baseline (after the baseline is complete)"),
    rate_tolerance: probability()
      .default(0.15)
      .describe(
        "how far order agreement, tie or invalid rate may move from the baseline: flagged when the window's whole interval lies beyond it",
      ),
    latency_factor: z
      .number()
      .gt(1)
      .default(3)
      .describe("judge_latency when the window's median latency exceeds this multiple of the baseline's"),
    latency_margin_seconds: z
      .number()
      .nonnegative()
      .default(2)
      .describe(
        "judge_latency also needs the window's median to exceed the baseline's by this many seconds (ignores jitter)",
      ),
  })
  .strict();

export const HealthSchema = z
  .object({
    level: z
      .number()
      .gt(0)
      .lt(1)
      .default(0.95)
      .describe("confidence level of the Wilson intervals in the health rules"),
    diversity: DiversityHealthSchema.default(DiversityHealthSchema.parse({})),
    judge: JudgeHealthSchema.default(JudgeHealthSchema.parse({})),
    stop_on: z
      .array(HealthFlagSchema)
      .default([])
      .describe(
        "health flags that checkpoint and stop the run (exit 3, resumable); others only warn. Flags: reward_hacking, diversity_collapse, judge_agreement, judge_ties, judge_invalid, judge_latency",
      ),
  })
  .strict();

export const TrainSchema = z
  .object({
    model: ModelSchema,
    dataset: DatasetSchema,
    lora: LoraSchema.default(LoraSchema.parse({})),
    sampler: SamplerSchema.default(SamplerSchema.parse({})),
    rpo: RpoSchema.default(RpoSchema.parse({})),
    optim: OptimSchema.default(OptimSchema.parse({})),
    pipeline: PipelineSchema.default(PipelineSchema.parse({})),
    prompts_per_gpu: positiveInt().default(1).describe("prompts per GPU per rollout step"),
    grad_accum: positiveInt().default(1).describe("rollout steps per optimizer update (spans outer steps)"),
    max_steps: positiveInt().default(300).describe("optimizer updates"),
    checkpoint_every: positiveInt().default(50).describe("optimizer updates between checkpoints"),
    keep_checkpoints: nonNegativeInt()
      .default(3)
      .describe(
        "checkpoints kept: the last N, plus the one at the latest evaluation grid (0: keep every checkpoint)",
      ),
    eval_every: nonNegativeInt().default(50).describe("updates between evaluation grids (0: never)"),
    eval_prompts: z
      .array(z.string().min(1))
      .default([])
      .describe("fixed prompts sampled with fixed seeds for grids"),
    gradient_checkpointing: z
      .boolean()
      .default(true)
      .describe("recompute activations in the backward pass (less memory, more compute)"),
    mixed_precision: z
      .enum(["auto", "bf16", "no"])
      .default("auto")
      .describe("bf16 autocast of the transformer (auto: on GPU only)"),
    distributed: DistributedSchema.default(DistributedSchema.parse({})),
    service: ServiceSchema.default(ServiceSchema.parse({})),
    health: HealthSchema.default(HealthSchema.parse({})),
    seed: z
      .number()
      .int()
      .default(42)
      .describe("seed of the data order, the trained timesteps and the workers' RNGs"),
  })
  .strict();

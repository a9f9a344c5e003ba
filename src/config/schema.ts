/**
 * The single source of truth for every autorubric config. Each field carries a `.describe()` that
 * feeds CLI help and the JSON Schema; TypeScript types are derived with `z.infer`.
 *
 * Every object is `.strict()`, so a misspelt key is an error, never a silent default.
 * Defaults are the paper's values where the paper has one (arXiv 2605.08354, Table 3 and the
 * reference launch scripts); the presets in `configs/` override them per model.
 */
import { z } from "zod";

const positiveInt = () => z.number().int().positive();
const nonNegativeInt = () => z.number().int().nonnegative();
const probability = () => z.number().min(0).max(1);
/** http(s) only: zod's plain url() accepts `localhost:8000` as a URL with scheme `localhost:`. */
const httpUrl = () => z.url({ protocol: /^https?$/ });

/** Per-million-token prices used by the cost meter. */
export const PriceSchema = z
  .object({
    input_per_mtok: z.number().nonnegative().default(0).describe("price per million prompt tokens"),
    output_per_mtok: z.number().nonnegative().default(0).describe("price per million completion tokens"),
  })
  .strict();

/** Hard caps that stop work cleanly (and say so) before they are exceeded. */
export const BudgetSchema = z
  .object({
    max_calls: positiveInt().nullable().default(null).describe("stop before making more VLM calls than this"),
    max_tokens: positiveInt().nullable().default(null).describe("stop once this many tokens have been used"),
    max_cost: z
      .number()
      .positive()
      .nullable()
      .default(null)
      .describe("stop once this much money has been spent"),
  })
  .strict();

/** How images are prepared before they are sent to the VLM. */
export const ImageEncodingSchema = z
  .object({
    max_side: positiveInt()
      .nullable()
      .default(1024)
      .describe("downscale so the longer side is at most this (null: never)"),
    format: z.enum(["png", "jpeg", "webp"]).default("png").describe("encoding sent to the VLM"),
    quality: z.number().int().min(1).max(100).default(90).describe("quality for jpeg/webp"),
    source_size: z
      .tuple([positiveInt(), positiveInt()])
      .nullable()
      .default(null)
      .describe(
        "[height, width] the source image of an edit is resized to, so the judge sees what the policy saw",
      ),
  })
  .strict();

/** An OpenAI-compatible VLM endpoint (vLLM, SGLang, OpenAI, Gemini's OpenAI-compatible API). */
export const VlmSchema = z
  .object({
    provider: z
      .enum(["openai-compatible", "referee"])
      .default("openai-compatible")
      .describe(
        "referee: the offline rule-based reference judge, started by the CLI on loopback (not a VLM)",
      ),
    model: z.string().min(1).describe("model name as the server knows it"),
    base_url: z
      .union([httpUrl(), z.array(httpUrl()).min(1)])
      .nullable()
      .default(null)
      .describe(
        "endpoint URL ending in /v1, or a list of replicas serving the same model (null only for the referee)",
      ),
    api_key_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name")
      .nullable()
      .default(null)
      .describe("NAME of the env var holding the API key (the key itself never goes in a config)"),
    temperature: z
      .number()
      .min(0)
      .max(2)
      .nullable()
      .default(0)
      .describe("sampling temperature (null: server default)"),
    max_tokens: positiveInt().nullable().default(1024).describe("completion token cap per call"),
    timeout_ms: positiveInt().default(120_000).describe("per-attempt timeout"),
    max_retries: nonNegativeInt()
      .default(3)
      .describe("SDK retries on 429, 5xx, timeouts and broken connections"),
    concurrency: positiveInt().default(32).describe("requests in flight at once, over all endpoints"),
    structured_output: z
      .enum(["json_schema", "json_object", "none"])
      .default("json_schema")
      .describe("response_format sent: strict JSON schema, plain JSON object, or nothing"),
    extra_body: z
      .record(z.string(), z.unknown())
      .default({})
      .describe("server-specific request keys passed through"),
    endpoint_cooldown_ms: positiveInt().default(30_000).describe("how long a failing endpoint is set aside"),
    price: PriceSchema.default(PriceSchema.parse({})),
    image: ImageEncodingSchema.default(ImageEncodingSchema.parse({})),
  })
  .strict();

export const TaskSchema = z.enum(["t2i", "edit"]).describe("text-to-image or image editing");

/** The rubric-conditioned judge. */
export const JudgeSchema = z
  .object({
    task: TaskSchema.default("t2i"),
    order: z
      .enum(["single", "swap", "random"])
      .default("swap")
      .describe("single: as given; swap: both orders, agreement decides; random: one random order, recorded"),
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
    language: z.enum(["en", "zh"]).default("en"),
    cache_dir: z
      .string()
      .nullable()
      .default(".arr-cache")
      .describe("verdict cache directory (null: no cache)"),
    budget: BudgetSchema.default(BudgetSchema.parse({})),
    seed: z.number().int().default(0).describe("seed for the random order policy"),
  })
  .strict();

/** ARR rubric induction. */
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
    language: z.enum(["en", "zh"]).default("en"),
    task_description: z.string().nullable().default(null),
    concurrency: positiveInt().default(8).describe("seed pairs processed at once"),
    budget: BudgetSchema.default(BudgetSchema.parse({})),
  })
  .strict();

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

export const LoraSchema = z
  .object({
    rank: positiveInt().default(16).describe("LoRA rank r (paper: 16 for FLUX, 32 for Qwen-Edit)"),
    alpha: z.number().positive().default(32).describe("LoRA alpha; the update is scaled by alpha/rank"),
    dropout: probability().default(0).describe("LoRA dropout probability"),
    targets: LoraTargetsSchema.default("attention").describe(
      "attention: to_q/to_k/to_v/to_out.0 (reference scripts); extended: also the MLP projections; or module names",
    ),
    init_from: z.string().nullable().default(null).describe("start from an existing LoRA directory"),
  })
  .strict();

export const SamplerSchema = z
  .object({
    steps: z.number().int().min(2).default(8).describe("denoising steps S"),
    eta: z.number().min(0).default(0.3).describe("SDE noise level (std = eta*sqrt(sigma - sigma_next))"),
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
      .describe("fraction of transitions (last excluded) trained"),
    win_reward: z.number().default(1).describe("advantage of the judged winner of a pair"),
    lose_reward: z.number().default(-0.1).describe("advantage of the judged loser of a pair"),
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
    scheduler: z.enum(["constant_with_warmup"]).default("constant_with_warmup"),
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

export const DatasetSchema = z
  .object({
    path: z
      .string()
      .min(1)
      .describe("prompts (.txt one per line, or .jsonl), edit JSONL, or ShareGPT-4o-Image JSON"),
    format: z.enum(["auto", "text", "jsonl", "edit-jsonl", "sharegpt-4o-image"]).default("auto"),
    shuffle: z.boolean().default(true),
    drop_cjk: z
      .boolean()
      .default(false)
      .describe("drop prompts containing CJK characters (the reference does)"),
    limit: positiveInt().nullable().default(null),
  })
  .strict();

export const DistributedSchema = z
  .object({
    nproc_per_node: z.number().int().min(1).max(8).default(1),
    nnodes: positiveInt().default(1),
    node_rank: nonNegativeInt().default(0),
    rdzv_endpoint: z
      .string()
      .nullable()
      .default(null)
      .describe("host:port of torchrun's rendezvous (multi-node)"),
    strategy: z.enum(["ddp", "fsdp"]).default("ddp"),
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
    judge_concurrency: positiveInt().default(16),
    outage_threshold: positiveInt()
      .default(8)
      .describe("consecutive failed judgements that checkpoint and stop"),
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
    eval_every: nonNegativeInt().default(50).describe("updates between evaluation grids (0: never)"),
    eval_prompts: z
      .array(z.string().min(1))
      .default([])
      .describe("fixed prompts sampled with fixed seeds for grids"),
    gradient_checkpointing: z.boolean().default(true),
    mixed_precision: z.enum(["auto", "bf16", "no"]).default("auto"),
    distributed: DistributedSchema.default(DistributedSchema.parse({})),
    service: ServiceSchema.default(ServiceSchema.parse({})),
    seed: z.number().int().default(42),
  })
  .strict();

export const RunSchema = z
  .object({
    name: z.string().min(1).default("arr-run"),
    output_dir: z.string().default("runs").describe("parent directory of run directories"),
    seed: z.number().int().default(42),
    log_level: z
      .enum(["error", "warn", "info", "debug"])
      .default("info")
      .describe("how much the CLI logs to stderr"),
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
  .strict();

export type Price = z.infer<typeof PriceSchema>;
export type Budget = z.infer<typeof BudgetSchema>;
export type ImageEncoding = z.infer<typeof ImageEncodingSchema>;
export type VlmConfig = z.infer<typeof VlmSchema>;
export type Task = z.infer<typeof TaskSchema>;
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
export type RunConfig = z.infer<typeof RunSchema>;
export type Config = z.infer<typeof ConfigSchema>;

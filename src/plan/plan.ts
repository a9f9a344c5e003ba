/**
 * `plan()`: what a training config needs before it runs: parameters (counted exactly in Python on
 * the meta device), memory per GPU with a verdict, the time of an update and of the run, and what
 * the judge costs. The I/O edge: it reads the component configs, asks the bridge for the counts,
 * and hands everything to the pure formulas in this folder.
 */
import { isAbsolute, join, resolve } from "node:path";
import type { Config } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import { loadRubric } from "../rubrics/rubric.js";
import { type Bridge, createBridge } from "../runtime/bridge.js";
import { packageRoot } from "../runtime/python.js";
import { denoiserArch, vaeArch } from "./architecture.js";
import {
  editProcessorFile,
  FAMILY_MODELS,
  isDirectory,
  judgeProcessorFile,
  type ResolvedComponent,
  readJson,
  resolveComponents,
} from "./components.js";
import { resolveEfficiency } from "./efficiency.js";
import { type Verdict, verdict } from "./fit.js";
import {
  encoderFlops,
  type ForwardFlops,
  forwardFlops,
  type TransitionFlops,
  transitionFlops,
} from "./flops.js";
import { DEFAULT_GPU, type GpuSpec, gpuSpec } from "./gpus.js";
import { type JudgeCost, judgeCost, sentSize } from "./judge-cost.js";
import { type MemoryInput, type MemoryTable, memoryTable, weightBytes } from "./memory.js";
import { type Sequence, sequence } from "./sequence.js";
import { type Efficiency, type UpdateWork, updateWork } from "./time.js";
import { type VisionProcessor, VisionProcessorSchema, visionProcessor } from "./vision-tokens.js";

export interface PlanOptions {
  /** Resolved config with a `train` section. */
  config: Config;
  /** A `--gpu` name (see gpus.ts); default h100-80gb. */
  gpu?: string;
  /** Share of the bf16 peak to assume (overrides bench results and the default). */
  efficiency?: number;
  /** The judge's preprocessor_config.json (file or folder) when its family is not recognised. */
  judgeProcessor?: string;
  /** An open bridge to use (it stays open); default: one is created and closed here. */
  bridge?: Bridge;
}

export interface ComponentCount {
  name: string;
  label: string;
  role: ResolvedComponent["role"];
  className: string;
  params: number;
  configFile: string;
  source: ResolvedComponent["source"];
}

export interface Plan {
  model: { family: string; path: string; configsFrom: string };
  gpu: GpuSpec;
  world: number;
  parameters: {
    components: ComponentCount[];
    lora: { params: number; layers: number; rank: number; targets: string[] };
  };
  sequence: Sequence;
  memory: MemoryTable & { verdict: Verdict; weightBytes: number; strategy: "ddp" | "fsdp" };
  flops: { forward: ForwardFlops; transition: TransitionFlops; textEncodePerPrompt: number };
  time: { efficiency: Efficiency; update: UpdateWork; updates: number; runSeconds: number };
  judge: JudgeCost & { model: string | null; processorFile: string | null };
  warnings: string[];
}

interface CountReply {
  components: { name: string; class_name: string; params: number; config_file: string }[];
  lora: { params: number; layers: number; rank: number; targets: string[] };
}

export async function plan(options: PlanOptions): Promise<Plan> {
  const config = options.config;
  const train = config.train;
  if (!train) {
    throw new ConfigError("planning needs a train section (which model, sampler and GPUs)", {
      path: "train",
      hint: "use a training config, e.g. --preset flux-rpo-8gpu",
    });
  }
  const root = packageRoot();
  const gpu = gpuSpec(options.gpu ?? DEFAULT_GPU);
  const family = train.model.family;
  const { modelDir, resolved, counted } = await countParameters(train, root, options.bridge);
  const comps: ComponentCount[] = resolved.map((c, i) => {
    const row = counted.components[i] as CountReply["components"][number];
    return {
      name: c.name,
      label: c.label,
      role: c.role,
      className: row.class_name,
      params: row.params,
      configFile: c.configFile,
      source: c.source,
    };
  });
  const byRole = (role: ComponentCount["role"]) => comps.filter((c) => c.role === role);
  const transformerFile = (byRole("transformer")[0] as ComponentCount).configFile;
  const vaeFile = (byRole("vae")[0] as ComponentCount).configFile;
  const arch = parseWith(transformerFile, "transformer config", (raw) => denoiserArch(family, raw));
  const vae = parseWith(vaeFile, "VAE config", vaeArch);
  const editProcessor = family === "qwen-edit" ? loadProcessor(editProcessorFile(modelDir, root)) : null;
  const seqAt = (h: number, w: number) => sequence(arch, vae, h, w, editProcessor);
  const { height, width, candidates, steps } = train.sampler;
  const seq = seqAt(height, width);

  // memory
  const dist = train.distributed;
  const world = dist.nproc_per_node * dist.nnodes;
  const wb = weightBytes(train.model.dtype, dist.strategy, world);
  const memInput: MemoryInput = {
    arch,
    vae,
    seq,
    params: {
      transformer: sumParams(byRole("transformer")),
      textEncoders: byRole("text_encoder").map((c) => ({ name: c.label, params: c.params })),
      vae: sumParams(byRole("vae")),
      lora: counted.lora.params,
    },
    weightBytes: wb,
    strategy: dist.strategy,
    world,
    checkpointing: train.gradient_checkpointing,
    candidates,
    steps,
    promptsPerGpu: train.prompts_per_gpu,
    height,
    width,
  };
  const table = memoryTable(memInput);
  const fit = verdict(memInput, gpu.memoryBytes, { dtype: train.model.dtype, resize: seqAt });

  // time
  const forward = forwardFlops(arch, seq, counted.lora.params);
  const transition = transitionFlops(forward, { checkpointing: train.gradient_checkpointing });
  const encodePerPrompt = textEncodeFlops(family, byRole("text_encoder"), seq);
  const efficiency = resolveEfficiency(root, family, Math.max(height, width), options.efficiency);
  const update = updateWork({
    promptsPerGpu: train.prompts_per_gpu,
    gradAccum: train.grad_accum,
    candidates,
    steps,
    timestepFraction: train.rpo.timestep_fraction,
    forward,
    transition,
    encodeFlops: encodePerPrompt,
    peakFlops: gpu.bf16Flops,
    efficiency,
  });

  const judge = await planJudge(config, options.judgeProcessor, root, {
    promptsPerUpdate: world * update.prompts,
    updates: train.max_steps,
    updateSeconds: update.seconds.total,
  });

  const warnings: string[] = [];
  if (dist.strategy === "fsdp" && world > 1 && train.model.dtype === "bfloat16") {
    warnings.push(
      "strategy fsdp with model.dtype bfloat16: the runtime refuses mixed dtypes under FSDP (the LoRA is fp32); use dtype auto",
    );
  }
  const configsFrom = resolved.every((c) => c.source === "shipped")
    ? `shipped configs of ${FAMILY_MODELS[family].hubId}${train.model.path === FAMILY_MODELS[family].hubId ? "" : ` (model.path ${train.model.path} has none locally)`}`
    : (modelDir ?? train.model.path);
  return {
    model: { family, path: train.model.path, configsFrom },
    gpu,
    world,
    parameters: { components: comps, lora: counted.lora },
    sequence: seq,
    memory: { ...table, verdict: fit, weightBytes: wb, strategy: dist.strategy },
    flops: { forward, transition, textEncodePerPrompt: encodePerPrompt },
    time: {
      efficiency,
      update,
      updates: train.max_steps,
      runSeconds: update.seconds.total * train.max_steps,
    },
    judge,
    warnings,
  };
}

/** The component configs in use and their exact counts (the bridge's `count_parameters` op). */
async function countParameters(
  train: NonNullable<Config["train"]>,
  root: string,
  given: Bridge | undefined,
): Promise<{ modelDir: string | null; resolved: ResolvedComponent[]; counted: CountReply }> {
  const family = train.model.family;
  const bridge = given ?? (await createBridge());
  try {
    const modelDir =
      train.model.path === "tiny"
        ? (await bridge.call<{ path: string }>("build_tiny", { family })).path
        : isDirectory(train.model.path)
          ? resolve(train.model.path)
          : null;
    const resolved = resolveComponents(family, modelDir, root);
    const counted = await bridge.call<CountReply>("count_parameters", {
      components: resolved.map((c) => ({ name: c.name, config_file: c.configFile })),
      lora: { component: "transformer", rank: train.lora.rank, targets: train.lora.targets },
    });
    return { modelDir, resolved, counted };
  } finally {
    if (!given) await bridge.close();
  }
}

function sumParams(rows: ComponentCount[]): number {
  return rows.reduce((s, r) => s + r.params, 0);
}

/**
 * Text encoding per prompt: FLUX runs CLIP on 77 tokens and T5 on 512; Qwen-Image-Edit runs the
 * Qwen2.5-VL encoder over the whole templated prompt (its dropped system prefix included, 64 tokens).
 */
function textEncodeFlops(family: string, encoders: ComponentCount[], seq: Sequence): number {
  return encoders.reduce((s, e) => {
    const tokens = family === "flux" ? (e.name === "text_encoder" ? 77 : seq.text) : seq.text + 64;
    return s + encoderFlops(e.params, tokens);
  }, 0);
}

function parseWith<T>(file: string, what: string, parse: (raw: unknown) => T): T {
  const raw = readJson(file, what);
  try {
    return parse(raw);
  } catch (error) {
    throw new ConfigError(
      `${file}: not a ${what} the planner understands (${error instanceof Error ? error.message : String(error)})`,
      {
        cause: error,
      },
    );
  }
}

function loadProcessor(file: string): VisionProcessor {
  return parseWith(file, "image processor config", (raw) =>
    visionProcessor(VisionProcessorSchema.parse(raw)),
  );
}

async function planJudge(
  config: Config,
  judgeProcessor: string | undefined,
  root: string,
  work: { promptsPerUpdate: number; updates: number; updateSeconds: number },
): Promise<Plan["judge"]> {
  const train = config.train as NonNullable<Config["train"]>;
  const vlm = config.vlm;
  const { height, width, candidates } = train.sampler;
  const model = vlm?.model ?? null;
  const processorFile = judgeProcessor
    ? isDirectory(judgeProcessor)
      ? join(judgeProcessor, "preprocessor_config.json")
      : isAbsolute(judgeProcessor)
        ? judgeProcessor
        : resolve(judgeProcessor)
    : model
      ? judgeProcessorFile(model, root)
      : null;
  const processor = processorFile ? loadProcessor(processorFile) : null;
  const maxSide = vlm?.image.max_side ?? null;
  const edit = config.judge.task === "edit";
  const source = vlm?.image.source_size ?? null;
  const rubric = config.judge.rubric_file ? await loadRubric(config.judge.rubric_file) : null;
  const cost = judgeCost({
    provider: vlm ? vlm.provider : null,
    model,
    order: config.judge.order,
    task: config.judge.task,
    language: config.judge.language,
    candidates,
    imageSize: sentSize(height, width, maxSide),
    // without source_size the judge is sent the original file; its size is unknown, assumed the target's
    sourceSize: edit ? (source ? [source[0], source[1]] : sentSize(height, width, maxSide)) : null,
    processor,
    rubricText: rubric?.text ?? null,
    taskDescription: config.judge.task_description,
    completionCap: vlm?.max_tokens ?? null,
    price: vlm?.price ?? { input_per_mtok: 0, output_per_mtok: 0 },
    ...work,
  });
  if (edit && !source)
    cost.notes.push("vlm.image.source_size unset: the source image is assumed to be the target's size");
  return { ...cost, model, processorFile };
}

/**
 * Rules that involve more than one field, checked with the schema (`ConfigSchema.superRefine`) so
 * that `arr config validate` rejects every config the workers or torchrun would reject, naming the
 * field to change. Single-field rules (eta > 0, LoRA dropout 0) sit on the field itself.
 */
import type { z } from "zod";
import type { JudgeSchema } from "./judge.js";
import type { TrainSchema } from "./train.js";

type Checked = { judge: z.output<typeof JudgeSchema>; train?: z.output<typeof TrainSchema> | undefined };

/** Transitions trained per sample: floor((S - 1) x fraction); the last transition never is. */
export function trainedSteps(steps: number, fraction: number): number {
  return Math.floor((steps - 1) * fraction);
}

export function checkCrossFieldRules(config: Checked, ctx: z.RefinementCtx): void {
  const { train, judge } = config;
  if (!train) return;
  const { steps } = train.sampler;
  const fraction = train.rpo.timestep_fraction;
  if (trainedSteps(steps, fraction) < 1) {
    ctx.addIssue({
      code: "custom",
      path: ["train", "rpo", "timestep_fraction"],
      message: `trains no transition: floor((sampler.steps - 1) x timestep_fraction) is 0 with ${steps} steps`,
      params: { hint: `use timestep_fraction >= ${(1 / (steps - 1)).toPrecision(3)} or more sampler.steps` },
    });
  }
  if (judge.task === "edit" && train.model.family !== "qwen-edit") {
    ctx.addIssue({
      code: "custom",
      path: ["train", "model", "family"],
      message: `judge.task is "edit", which needs an editing model ("qwen-edit")`,
      params: { hint: `set train.model.family: qwen-edit, or judge.task: t2i for ${train.model.family}` },
    });
  }
  const { nnodes, rdzv_endpoint } = train.distributed;
  if (nnodes > 1 && rdzv_endpoint === null) {
    ctx.addIssue({
      code: "custom",
      path: ["train", "distributed", "rdzv_endpoint"],
      message: `required when nnodes > 1 (nnodes is ${nnodes})`,
      params: { hint: "set it to host:port of node 0, the same on every node, e.g. 10.0.0.1:29500" },
    });
  }
}

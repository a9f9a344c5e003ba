/**
 * autorubric SDK. Every capability of the `arr` CLI is a typed function exported here first.
 */

export { formatConfig, REDACTED, redactSecrets } from "./config/dump.js";
export {
  type ConfigProblem,
  ConfigValidationError,
  displayPath,
  type LoadConfigOptions,
  type LoadedConfig,
  loadConfig,
} from "./config/load.js";
export { DEFAULT_PRESET, listPresets, type PresetInfo, presetFile, presetsDir } from "./config/presets.js";
export * from "./config/schema.js";
export * from "./data/benchmarks/index.js";
export * from "./data/pairs.js";
export { readSamplePrompts, type SamplePrompt } from "./data/sample-prompts.js";
export { type DemoOptions, type DemoResult, type DemoStage, demoDefaults, runDemo } from "./demo/demo.js";
export * from "./errors.js";
export {
  type CompareOptions,
  type CompareVariant,
  type ComparisonResult,
  type ComparisonRow,
  compare,
  compareResults,
  formatComparisonTable,
} from "./eval/compare.js";
export * from "./eval/evaluate.js";
export { type ReportInput, type VariantRubric, writeEvalOutputs } from "./eval/report.js";
export { bootstrapMean, type Interval, mcnemarExact, pairedBootstrapDifference } from "./eval/stats.js";
export type { EvalJudge, EvalPair, EvalVerdict, SkippedItem } from "./eval/types.js";
export * from "./judge/judge.js";
export * from "./judge/orders.js";
export { type ParseResult, parseVerdict } from "./judge/parse.js";
export { TEMPLATE_VERSION } from "./judge/prompt.js";
export * from "./judge/reward.js";
export { summarizeVerdicts, type VerdictSummary } from "./judge/summary.js";
export { DEFAULT_GPU, GPUS, type GpuSpec, gpuSpec } from "./plan/gpus.js";
export { type Plan, type PlanOptions, plan } from "./plan/plan.js";
export { renderPlan } from "./plan/render.js";
export { type Referee, type RefereeOptions, startReferee } from "./referee/index.js";
export { CallCache } from "./rubrics/call-cache.js";
export {
  type InduceOptions,
  type InductionProgress,
  type InductionResult,
  induceRubrics,
  type Verifier,
  type VerifierFactory,
} from "./rubrics/induce.js";
export { INDUCTION_TEMPLATE_VERSION } from "./rubrics/prompts.js";
export {
  criteriaRubric,
  type JudgeRubric,
  type LoadedRubric,
  loadRubric,
  type Provenance,
  type RubricFile,
  RubricFileSchema,
  renderRubricMarkdown,
  renderRubricText,
  rubricHash,
  saveRubric,
} from "./rubrics/rubric.js";
export { induceZeroShot, type ZeroShotOptions } from "./rubrics/zero-shot.js";
export { type Bridge, type BridgeOptions, type CallOptions, createBridge } from "./runtime/bridge.js";
export { type DoctorReport, probePythonVersions, runDoctor } from "./runtime/doctor.js";
export { resolvePython, userRuntimeDir } from "./runtime/python.js";
export { type SampleOptions, type SampleResult, sample } from "./runtime/sample.js";
export {
  type SetupOptions,
  type SetupResult,
  setupRuntime,
  type TorchChoice,
  type TorchVariant,
} from "./runtime/setup.js";
export { type TrainOptions, type TrainProgress, type TrainResult, train } from "./train/train.js";
export {
  type ModelRef,
  parseModelRef,
  type WinrateOptions,
  type WinrateResult,
  winrate,
} from "./train/winrate.js";
export { VERSION } from "./version.js";
export * from "./vlm/client.js";
export { type ImageInput, type PreparedImage, prepareImage } from "./vlm/images.js";
export * from "./vlm/usage.js";

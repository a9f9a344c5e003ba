/**
 * The audit judge of a run (`judge.audit`): a second judge that compares the policy with the base at
 * each eval point, beside the training judge, so that a policy pleasing only the training judge
 * shows (src/train/health/reward-hacking.ts). It shares the run's usage meter and budget.
 */
import type { AuditJudgeConfig, Config, VlmConfig } from "../config/schema.js";
import { hasAuditJudge } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import { createJudge } from "../judge/judge.js";
import type { Judge } from "../judge/types.js";
import { type LoadedRubric, loadRubric } from "../rubrics/rubric.js";
import { openVlm } from "../vlm/client.js";
import type { UsageMeter } from "../vlm/usage.js";

/** The audit VLM's config: the training VLM's, with the audit's non-null fields in place. */
export function auditVlmConfig(vlm: VlmConfig, audit: AuditJudgeConfig): VlmConfig {
  return {
    ...vlm,
    provider: audit.provider ?? vlm.provider,
    model: audit.model ?? vlm.model,
    base_url: audit.base_url ?? vlm.base_url,
    api_key_env: audit.api_key_env ?? vlm.api_key_env,
  };
}

/** Opens the audit judge when `judge.audit` names one; null otherwise. The caller closes it. */
export async function openAuditJudge(
  config: Config,
  trainingRubric: LoadedRubric | null,
  meter: UsageMeter,
): Promise<{ judge: Judge; close(): Promise<void> } | null> {
  const audit = config.judge.audit;
  if (!hasAuditJudge(audit)) return null;
  if (!config.vlm) {
    throw new ConfigError("judge.audit needs a vlm section to start from", {
      path: "vlm",
      hint: "add a vlm section, or set judge.audit's fields to null",
    });
  }
  const rubric = audit.rubric_file ? await loadRubric(audit.rubric_file) : trainingRubric;
  const vlm = await openVlm(auditVlmConfig(config.vlm, audit), { meter });
  const judge = createJudge({
    vlm: vlm.client,
    config: config.judge,
    image: vlm.config.image,
    rubric: rubric ? { text: rubric.text, hash: rubric.hash } : null,
    cacheDir: config.judge.cache_dir,
    meter,
  });
  return { judge, close: () => vlm.close() };
}

/**
 * "Did you mean" suggestions and secret detection for config messages (pure functions).
 */

/** Levenshtein edit distance (insert, delete, substitute each cost 1). */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/**
 * The candidate closest to `word`, or undefined when none is plausibly a typo of it.
 * A candidate qualifies within about a third of the word's length in edits, or when one contains
 * the other (`lr` for `learning_rate` is caught by the alias table, not here).
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase().replace(/-/g, "_");
  let best: string | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const c = candidate.toLowerCase().replace(/-/g, "_");
    let score = editDistance(w, c);
    if (score > Math.max(2, Math.floor(Math.max(w.length, c.length) / 3))) {
      const contained = w.length >= 3 && c.length >= 3 && (c.includes(w) || w.includes(c));
      if (!contained) continue;
      const prefix = c.startsWith(w) || w.startsWith(c);
      score = Math.abs(w.length - c.length) / (prefix ? 4 : 2) + 1;
    }
    if (score < bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  return best;
}

/** Common names from other trainers and the reference release that mean one of our fields. */
const ALIASES: Record<string, string> = {
  learning_rate: "lr",
  max_grad_norm: "grad_clip",
  gradient_accumulation_steps: "grad_accum",
  max_train_steps: "max_steps",
  checkpointing_steps: "checkpoint_every",
  sampling_steps: "steps",
  num_inference_steps: "steps",
  num_generations: "candidates",
  init_same_noise: "same_init_noise",
  sampler_seed: "seed",
  adv_clip_max: "adv_clip",
  lora_rank: "rank",
  lora_alpha: "alpha",
  lr_warmup_steps: "warmup_steps",
  lr_scheduler: "scheduler",
  model_name: "model",
  h: "height",
  w: "width",
  cfg: "guidance",
  query_specific_generate_number: "criteria_per_pair",
  enable_categorization: "categorize",
  categories_number: "categories",
  rubrics_file: "rubric_file",
  eval_mode: "order",
};

/** "did you mean" for a key, using aliases first, then spelling. */
export function suggestKey(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const exact = ALIASES[lower];
  if (exact !== undefined && known.includes(exact)) return exact;
  const direct = closest(key, known);
  if (direct !== undefined && editDistance(lower, direct.toLowerCase()) <= 2) return direct;
  // Names from other trainers (`learning_rate`, `max_grad_norm`), also when misspelt.
  const aliases = Object.keys(ALIASES).filter((a) => known.includes(ALIASES[a] ?? ""));
  const alias = closest(key, aliases);
  if (alias !== undefined && editDistance(lower, alias) <= Math.max(2, Math.floor(alias.length / 4))) {
    return ALIASES[alias];
  }
  return direct;
}

/** Keys people use for a secret itself; the config only ever holds the env var NAME. */
export function isSecretKey(key: string): boolean {
  return /^(api[_-]?key|apikey|key|token|access[_-]?token|auth[_-]?token|secret|password|authorization|bearer|[a-z]+_api_key)$/i.test(
    key,
  );
}

/** A string that starts like a known provider's credential (`sk-`, `hf_`, `AIza`, ...). */
export function hasSecretPrefix(value: string): boolean {
  return /^(sk-|sk_|pk-|rk-|ghp_|gho_|github_pat_|hf_|xox[abp]-|AIza|Bearer\s)/.test(value);
}

/**
 * A string that may be a credential: a provider prefix, or a long opaque token. Broad on purpose:
 * it only decides what error messages decline to echo.
 */
export function looksLikeSecret(value: string): boolean {
  if (hasSecretPrefix(value)) return true;
  return (
    value.length >= 28 && /^[A-Za-z0-9_\-+=]+$/.test(value) && /\d/.test(value) && /[A-Za-z]/.test(value)
  );
}

/** A value rendered for an error message: short, quoted, and never a secret. */
export function showValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (typeof value === "string") {
    if (looksLikeSecret(value)) return "a value that looks like a secret (not shown)";
    const text = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(text);
  }
  if (Array.isArray(value)) return `a list of ${value.length} item${value.length === 1 ? "" : "s"}`;
  if (typeof value === "object") return "a mapping";
  return String(value);
}

/**
 * Typed errors. Every error autorubric throws is an `ArrError`: a one-line `message` saying what
 * went wrong and where, an optional `hint` saying how to fix it, and the underlying `cause`.
 * The CLI prints `message` and `hint` and maps `exitCode` to the process exit status
 * (2 = usage or config error, 1 = failure at run time; {@link EXIT_STOPPED} is not an error).
 */

/**
 * Exit status of a training run that stopped early but cleanly (Ctrl-C, SIGTERM, a judge outage, a
 * stop requested by the controller): its latest checkpoint is good and `arr train --resume` goes on.
 * Only a run that finished every update exits 0.
 */
export const EXIT_STOPPED = 3;
export interface ArrErrorOptions {
  hint?: string;
  cause?: unknown;
}

export class ArrError extends Error {
  override name = "ArrError";
  readonly hint: string | undefined;
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number = 1;

  constructor(message: string, options: ArrErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.hint = options.hint;
  }
}

/** Where in a file a problem sits (1-based line and column). */
export interface SourceLocation {
  file: string;
  line?: number;
  column?: number;
}

/** A config, preset or `--set` override that is invalid. */
export class ConfigError extends ArrError {
  override name = "ConfigError";
  override readonly exitCode = 2;
  readonly location: SourceLocation | undefined;
  /** Dotted field path, e.g. `train.rpo.clip_range`. */
  readonly path: string | undefined;

  constructor(message: string, options: ArrErrorOptions & { location?: SourceLocation; path?: string } = {}) {
    super(message, options);
    this.location = options.location;
    this.path = options.path;
  }
}

/** A bad command-line usage that commander itself cannot catch. */
export class UsageError extends ArrError {
  override name = "UsageError";
  override readonly exitCode = 2;
}

/** A dataset, pairs, seeds or prompts file with a bad row or a missing image. */
export class DatasetError extends ArrError {
  override name = "DatasetError";
  override readonly exitCode = 2;
  readonly file: string | undefined;
  /** 1-based line (JSONL, text) or 0-based item index (JSON arrays), whichever the format has. */
  readonly line: number | undefined;
  readonly field: string | undefined;

  constructor(
    message: string,
    options: ArrErrorOptions & { file?: string; line?: number; field?: string } = {},
  ) {
    super(message, options);
    this.file = options.file;
    this.line = options.line;
    this.field = options.field;
  }
}

/** An image that cannot be read or decoded. */
export class ImageError extends ArrError {
  override name = "ImageError";
  readonly source: string;

  constructor(message: string, options: ArrErrorOptions & { source: string }) {
    super(message, options);
    this.source = options.source;
  }
}

/** A VLM request that failed after the SDK's retries (the openai error is the `cause`). */
export class VlmError extends ArrError {
  override name = "VlmError";
  /** Whether retrying later may succeed (rate limit, 5xx, connection), as opposed to a 4xx. */
  readonly retriable: boolean;
  readonly endpoint: string | undefined;

  constructor(message: string, options: ArrErrorOptions & { retriable: boolean; endpoint?: string }) {
    super(message, options);
    this.retriable = options.retriable;
    this.endpoint = options.endpoint;
  }
}

/** A configured budget (calls, tokens, money) is spent; work stopped cleanly before exceeding it. */
export class BudgetExceededError extends ArrError {
  override name = "BudgetExceededError";
  readonly budget: "calls" | "tokens" | "cost";
  readonly limit: number;

  constructor(budget: "calls" | "tokens" | "cost", limit: number, options: ArrErrorOptions = {}) {
    super(`budget exhausted: ${budget} limit ${limit} reached`, {
      hint: options.hint ?? `raise the ${budget} budget in the config, or rerun: cached results are reused`,
      cause: options.cause,
    });
    this.budget = budget;
    this.limit = limit;
  }
}

/** An operation cancelled through an AbortSignal. */
export class AbortError extends ArrError {
  override name = "AbortError";
}

/** A Python-side exception or a dead interpreter, seen through the bridge or a worker. */
export class BridgeError extends ArrError {
  override name = "BridgeError";
  /** Python exception type, e.g. `ValueError`; `ProcessExited` when the interpreter died. */
  readonly pythonType: string;
  readonly traceback: string | undefined;

  constructor(message: string, options: ArrErrorOptions & { pythonType: string; traceback?: string }) {
    super(message, options);
    this.pythonType = options.pythonType;
    this.traceback = options.traceback;
  }
}

/** A checkpoint or run directory that cannot be resumed from. */
export class CheckpointError extends ArrError {
  override name = "CheckpointError";
}

/** Rubric induction produced nothing usable, or a rubric file is invalid. */
export class RubricError extends ArrError {
  override name = "RubricError";
}

/** Training failed: a worker died, the judge was down past its threshold, or the run was interrupted. */
export class TrainingError extends ArrError {
  override name = "TrainingError";
}

/** `arr setup` could not install the Python runtime (no usable base Python, pip failed, wrong torch). */
export class SetupError extends ArrError {
  override name = "SetupError";
}

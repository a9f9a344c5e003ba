/**
 * Ctrl-C / SIGTERM. Commands that pay per call (judge, eval, rubrics induce): the signal stops new
 * work, what is in flight finishes and is kept, and the command then fails with a rerun hint.
 * Commands that drive training workers (train, demo): the first signal checkpoints and stops, a
 * second one kills the workers.
 */
import { setMaxListeners } from "node:events";
import { AbortError } from "../errors.js";

export interface Interruption {
  /** Fires on the first SIGINT or SIGTERM. */
  readonly signal: AbortSignal;
  /** Removes the handlers; call it in `finally`. */
  release(): void;
  /**
   * The error to report for a failed run: an AbortError with `message` and `hint` when the run was
   * interrupted (or cancelled), otherwise `error` unchanged.
   */
  explain(error: unknown, message: string, hint?: string): unknown;
}

export function onInterrupt(): Interruption {
  const stop = new AbortController();
  // One signal fans out to every in-flight request (each adds an abort listener).
  setMaxListeners(0, stop.signal);
  const onSignal = () => stop.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return {
    signal: stop.signal,
    release() {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
    explain(error, message, hint) {
      if (!(error instanceof AbortError) && !stop.signal.aborted) return error;
      return new AbortError(message, { ...(hint ? { hint } : {}), cause: error });
    },
  };
}

/** Ctrl-C handling for commands that drive training workers: first signal stops, second kills. */
export interface TrainingInterruption {
  /** Fires on the first signal: workers checkpoint at their next update boundary and exit. */
  readonly stop: AbortSignal;
  /** Fires on the second signal: workers are killed at once. */
  readonly kill: AbortSignal;
  release(): void;
}

export function onTrainingInterrupt(log: (line: string) => void): TrainingInterruption {
  const stop = new AbortController();
  const kill = new AbortController();
  // Induction, evaluation and training may all listen on the one signal.
  setMaxListeners(0, stop.signal, kill.signal);
  const onSignal = () => {
    if (!stop.signal.aborted) {
      log("interrupted: checkpointing, then stopping (press Ctrl-C again to kill the workers)");
      stop.abort();
    } else {
      log("interrupted again: killing the workers");
      kill.abort();
    }
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    stop: stop.signal,
    kill: kill.signal,
    release() {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}

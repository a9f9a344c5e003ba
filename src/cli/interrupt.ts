/**
 * Ctrl-C / SIGTERM for commands that pay per call (judge, eval, rubrics induce): the signal stops
 * new work, what is in flight finishes and is kept, and the command then fails with a rerun hint.
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

/** Progress bars on stderr for the long-running commands (stdout stays clean for results). */
import cliProgress from "cli-progress";

export interface ProgressBar {
  /** Starts the bar on the first call, when the total is known; later calls may change the total. */
  update(done: number, total: number, payload: Record<string, unknown>): void;
  stop(): void;
}

/**
 * A bar with a cli-progress `format`; a no-op when disabled. On a terminal it redraws in place;
 * piped (a log file, a batch job) it prints a line every 5 s instead.
 */
export function stderrBar(format: string, enabled: boolean): ProgressBar {
  if (!enabled) return { update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format,
      noTTYOutput: !process.stderr.isTTY,
      notTTYSchedule: 5000,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total, payload) {
      if (!started) {
        bar.start(total, done, payload);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(done, payload);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

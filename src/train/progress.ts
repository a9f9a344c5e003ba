/**
 * Live training progress on stderr: one redrawn line on a terminal, a plain line per update when
 * stderr is a pipe (CI logs), nothing when quiet. Pure formatting lives in `formatProgress`.
 */
import { formatFlags, type HealthFlagName } from "./health/flags.js";
import type { ServiceStats } from "./reward-service.js";

/** What the controller knows after each optimizer update. */
export interface TrainProgress {
  update: number;
  totalUpdates: number;
  rewardMean: number | null;
  judge: Readonly<ServiceStats>;
  calls: number;
  tokens: number;
  cost: number;
  /** Seconds of the last update spent sampling, waiting for the judge, and updating. */
  split: { sampling: number; judgeWait: number; update: number } | null;
  /** Seconds since the run (or the resumed part) started. */
  elapsed: number;
  /** Update the run started from (non-zero after a resume), for the ETA. */
  startUpdate: number;
  /** Health flags that hold now (src/train/health/); empty when all is well. */
  health: readonly HealthFlagName[];
}

export function formatProgress(p: TrainProgress): string {
  const pct = p.totalUpdates > 0 ? Math.floor((100 * p.update) / p.totalUpdates) : 0;
  const done = p.update - p.startUpdate;
  const eta = done > 0 ? ((p.totalUpdates - p.update) * p.elapsed) / done : null;
  const agreement =
    p.judge.withAgreement > 0 ? `${Math.round((100 * p.judge.agreed) / p.judge.withAgreement)}%` : "-";
  const parts = [
    `step ${p.update}/${p.totalUpdates} (${pct}%)`,
    `reward ${p.rewardMean === null ? "-" : p.rewardMean.toFixed(3)}`,
    `judged ${p.judge.decided}/${p.judge.tie}/${p.judge.invalid}/${p.judge.failed} dec/tie/inv/fail`,
    `agree ${agreement}`,
    `calls ${p.calls} tok ${p.tokens}${p.cost > 0 ? ` $${p.cost.toFixed(4)}` : ""}`,
  ];
  if (p.split) {
    parts.push(
      `sample ${p.split.sampling.toFixed(1)}s judge-wait ${p.split.judgeWait.toFixed(1)}s update ${p.split.update.toFixed(1)}s`,
    );
  }
  parts.push(`health ${formatFlags(p.health)}`);
  parts.push(`eta ${eta === null ? "-" : formatDuration(eta)}`);
  return parts.join(" | ");
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0
    ? `${h}h${String(m).padStart(2, "0")}m`
    : m > 0
      ? `${m}m${String(r).padStart(2, "0")}s`
      : `${r}s`;
}

/** Renders progress to a stream: a single redrawn line on a TTY, one line per update otherwise. */
export function progressPrinter(stream: NodeJS.WriteStream = process.stderr): {
  update(p: TrainProgress): void;
  log(line: string): void;
  done(): void;
} {
  let lastLine = "";
  const tty = stream.isTTY === true;
  return {
    update(p) {
      lastLine = formatProgress(p);
      if (tty) stream.write(`\r\x1b[2K${lastLine.slice(0, (stream.columns ?? 200) - 1)}`);
      else stream.write(`${lastLine}\n`);
    },
    log(line) {
      if (tty) stream.write(`\r\x1b[2K${line}\n${lastLine.slice(0, (stream.columns ?? 200) - 1)}`);
      else stream.write(`${line}\n`);
    },
    done() {
      if (tty && lastLine) stream.write("\n");
    },
  };
}

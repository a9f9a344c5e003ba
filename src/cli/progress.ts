/**
 * The one progress system of the CLI: every long-running command (judge, eval, rubrics induce,
 * train, demo) describes its state as an ordered list of fields, most important first, and this
 * module lays them out on stderr (stdout stays clean for results).
 *
 * - ETA comes from a moving window of recent progress, never from the start of the command: start-up
 *   (loading models, spawning workers) would otherwise dominate the early estimates (issue 15: step 1
 *   of a 30-second run used to promise 6 minutes).
 * - On a terminal the line is redrawn in place and cut to the terminal's width by dropping whole
 *   fields from the end, so the fields that matter (position, ETA) always survive.
 * - Piped (a log file, a batch job) it prints full lines, at most one per `everyMs`.
 */
import { formatFlags } from "../train/health/flags.js";
import type { TrainProgress } from "../train/train.js";

/** Recent (done, time) samples; the ETA is the remaining work at the window's rate. */
export class EtaWindow {
  private readonly samples: { done: number; atMs: number }[] = [];

  /** `size`: how many recent samples the rate is measured over. */
  constructor(private readonly size = 10) {}

  push(done: number, atMs: number): void {
    const last = this.samples.at(-1);
    // A repeated count (a progress event without progress) would only shrink the window.
    if (last && last.done === done) return;
    // Counting from lower down again is a new run (the demo's control run follows the main one).
    if (last && done < last.done) this.samples.length = 0;
    this.samples.push({ done, atMs });
    if (this.samples.length > this.size) this.samples.shift();
  }

  /**
   * Seconds until `total`, or null while the window holds a single sample. `unitSeconds` (e.g. the
   * duration the workers measured for the first update) stands in for the rate until then.
   */
  eta(total: number, unitSeconds: number | null = null): number | null {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last) return null;
    const remaining = Math.max(0, total - last.done);
    if (remaining === 0) return 0;
    if (this.samples.length < 2 || last.atMs <= first.atMs) {
      return unitSeconds !== null && unitSeconds > 0 ? remaining * unitSeconds : null;
    }
    const rate = (last.done - first.done) / ((last.atMs - first.atMs) / 1000);
    return remaining / rate;
  }
}

/** `1h05m`, `3m07s`, `42s`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, "0")}m`;
  return m > 0 ? `${m}m${String(r).padStart(2, "0")}s` : `${r}s`;
}

export function formatEta(seconds: number | null): string {
  return `eta ${seconds === null ? "?" : formatDuration(seconds)}`;
}

/** `812`, `45.2k`, `3.10M` (token counts). */
export function formatCount(n: number): string {
  if (n < 1000) return String(n);
  if (n < 1e6) return `${(n / 1e3).toFixed(1)}k`;
  return `${(n / 1e6).toFixed(2)}M`;
}

/** A cost with its currency, precise enough for cents of a cheap model: `0.0123 USD`. */
export function formatCost(cost: number, currency: string): string {
  return `${cost >= 100 ? cost.toFixed(2) : cost.toFixed(4)} ${currency}`;
}

/** `done/total pct%`, the head of every count-based line. */
export function formatCounter(done: number, total: number): string {
  const pct = total > 0 ? Math.floor((100 * done) / total) : 0;
  return `${done}/${total} ${pct}%`;
}

export const SEPARATOR = " | ";

/**
 * Joins the fields that fit in `width` columns: whole fields are dropped from the end, never cut,
 * so callers put what matters first. The first field is always kept (cut if it alone is too wide).
 */
export function fitFields(fields: readonly string[], width: number = Number.POSITIVE_INFINITY): string {
  let line = "";
  for (const field of fields) {
    const next = line === "" ? field : `${line}${SEPARATOR}${field}`;
    if (next.length > width) return line === "" ? field.slice(0, width) : line;
    line = next;
  }
  return line;
}

function fixed(value: number | null, digits: number): string {
  return value === null ? "-" : value.toFixed(digits);
}

/**
 * The training line's fields, most important first: position and ETA, the learning signals (reward,
 * loss, KL, clip fraction), the judge's health, then spending and the time split.
 */
export function trainFields(p: TrainProgress, eta: number | null): string[] {
  const j = p.judge;
  const agreement = j.withAgreement > 0 ? `${Math.round((100 * j.agreed) / j.withAgreement)}%` : "-";
  const fields = [
    `step ${formatCounter(p.update, p.totalUpdates)}`,
    formatEta(eta),
    `reward ${p.rewardMean === null ? "-" : (p.rewardMean >= 0 ? "+" : "") + p.rewardMean.toFixed(3)}`,
    `loss ${fixed(p.loss, 4)}`,
    `kl ${fixed(p.kl, 4)}`,
    `clip ${p.clipFraction === null ? "-" : `${(100 * p.clipFraction).toFixed(1)}%`}`,
    `agree ${agreement}`,
    `judged ${j.decided}/${j.tie}/${j.invalid}/${j.failed} dec/tie/inv/fail`,
    `health ${formatFlags(p.health)}`,
    `vlm ${p.calls} calls ${formatCount(p.tokens)} tok`,
  ];
  if (p.cost > 0) fields.push(`cost ${formatCost(p.cost, p.currency)}`);
  if (p.split) {
    const s = p.split;
    fields.push(
      `sample ${s.sampling.toFixed(1)}s judge-wait ${s.judgeWait.toFixed(1)}s update ${s.update.toFixed(1)}s`,
    );
  }
  return fields;
}

/** A progress line on a stream; `update` takes fields (see {@link fitFields}). */
export interface ProgressLine {
  update(fields: readonly string[]): void;
  /** Prints a full line above the progress line (which is redrawn after it). */
  log(line: string): void;
  /** Ends the line: prints the last state once more when piped output skipped it. */
  done(): void;
}

export interface ProgressLineOptions {
  stream?: NodeJS.WriteStream;
  /** False: a line that shows nothing (and `log` still prints). */
  enabled?: boolean;
  /** Piped output: at most one line per this many ms (0: every update). Default 5000. */
  everyMs?: number;
  /** Clock in ms (tests). */
  now?: () => number;
}

export function progressLine(options: ProgressLineOptions = {}): ProgressLine {
  const stream = options.stream ?? process.stderr;
  const enabled = options.enabled ?? true;
  const everyMs = options.everyMs ?? 5000;
  const now = options.now ?? (() => performance.now());
  const tty = stream.isTTY === true;
  let fields: readonly string[] = [];
  let shown = true;
  let lastPrint = Number.NEGATIVE_INFINITY;
  // One column short of the width: writing the last column wraps on some terminals.
  const draw = () => `\r\x1b[2K${fitFields(fields, (stream.columns ?? 120) - 1)}`;
  return {
    update(next) {
      fields = next;
      if (!enabled) return;
      if (tty) {
        stream.write(draw());
        return;
      }
      shown = false;
      if (now() - lastPrint >= everyMs) {
        stream.write(`${fitFields(fields)}\n`);
        lastPrint = now();
        shown = true;
      }
    },
    log(line) {
      if (tty && enabled && fields.length > 0) stream.write(`\r\x1b[2K${line}\n${draw().slice(1)}`);
      else stream.write(`${line}\n`);
    },
    done() {
      if (!enabled || fields.length === 0) return;
      if (tty) stream.write("\n");
      else if (!shown) stream.write(`${fitFields(fields)}\n`);
    },
  };
}

/**
 * Progress over a count of items (judgements, pairs): `label done/total pct% | eta | ...extras`,
 * with the ETA from the recent rate.
 */
export function countProgress(
  label: string,
  options: ProgressLineOptions = {},
): { update(done: number, total: number, extras?: readonly string[]): void; done(): void } {
  const now = options.now ?? (() => performance.now());
  const line = progressLine({ ...options, now });
  const window = new EtaWindow(20);
  return {
    update(done, total, extras = []) {
      window.push(done, now());
      line.update([`${label} ${formatCounter(done, total)}`, formatEta(window.eta(total)), ...extras]);
    },
    done: () => line.done(),
  };
}

/** Progress of a training run (train, demo): one line per update when piped. */
export function trainProgress(options: ProgressLineOptions = {}): {
  update(p: TrainProgress): void;
  log(line: string): void;
  done(): void;
} {
  const now = options.now ?? (() => performance.now());
  const line = progressLine({ everyMs: 0, ...options, now });
  const window = new EtaWindow(10);
  return {
    update(p) {
      window.push(p.update, now());
      line.update(trainFields(p, window.eta(p.totalUpdates, p.stepSeconds)));
    },
    log: (text) => line.log(text),
    done: () => line.done(),
  };
}

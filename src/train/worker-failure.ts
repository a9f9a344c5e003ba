/** What a failed training worker left in its output: the traceback and its exception line. */

/** The exception line of a Python traceback (`OSError: [Errno 28] ...`), or null. */
export function pythonError(traceback: string): string | null {
  const lines = traceback.split("\n").map((line) => line.replace(/^\[rank \d+\] /, "").trim());
  const errors = lines.filter((line) => /^[A-Za-z_][\w.]*(Error|Exception|Interrupt)(: |$)/.test(line));
  return errors.at(0) ?? null;
}

/** The Python traceback in the workers' last lines (torchrun's summary follows it). */
export function extractTraceback(tail: readonly string[]): string {
  const start = tail.findIndex((line) => line.includes("Traceback (most recent call last)"));
  return (start >= 0 ? tail.slice(start) : tail.slice(-20)).join("\n");
}

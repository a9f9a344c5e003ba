/**
 * The batch shape every VLM-bound loop shares (judging, induction, evaluation): a capped number of
 * items in flight, results in input order, and the first failure ends the batch.
 */
import pLimit from "p-limit";

/**
 * Runs `work` over `items` with at most `concurrency` in flight and returns the results in input
 * order. The first error a task throws clears the queue, the tasks already in flight finish (what
 * they paid for is recorded by their own callbacks), and then that first error is rethrown.
 * Per-item policy (abort checks at task start, errors that should not stop the batch) belongs in
 * `work`.
 */
export async function mapLimited<T, R>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const limit = pLimit({
    concurrency: Math.max(1, Math.min(Math.floor(concurrency), items.length)),
    // Cleared tasks must settle, or the wait below would never end.
    rejectOnClear: true,
  });
  const results = new Array<R>(items.length);
  let failure: { error: unknown } | undefined;
  await Promise.allSettled(
    items.map((item, i) =>
      limit(async () => {
        // A task dequeued in the same tick as a failure has not been cleared yet.
        if (failure) return;
        try {
          results[i] = await work(item, i);
        } catch (error) {
          failure ??= { error };
          limit.clearQueue();
        }
      }),
    ),
  );
  if (failure) throw failure.error;
  return results;
}

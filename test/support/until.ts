/**
 * Waits for a condition by polling, with no deadline of its own: tests wait on events, not on
 * time, so that a busy machine slows them down without failing them. A condition that never
 * comes true is caught by the test's own (generous) timeout.
 */
export async function until(condition: () => boolean, intervalMs = 5): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, intervalMs));
}

/**
 * Replicas serving one model: requests go to the least busy healthy endpoint; an endpoint that
 * fails (after the SDK's own retries) is set aside for a cooldown and tried again afterwards.
 * Pure bookkeeping with an injectable clock; the client does the I/O.
 */

export interface EndpointState {
  /** Base URL as configured. */
  readonly url: string;
  /** Requests in flight on this endpoint now. */
  inFlight: number;
  /** Epoch ms until which the endpoint is set aside (0: healthy). */
  downUntil: number;
  /** Successful and failed requests so far. */
  ok: number;
  failed: number;
}

export class EndpointPool {
  readonly endpoints: EndpointState[];
  private next = 0;

  constructor(
    urls: readonly string[],
    private readonly cooldownMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.endpoints = urls.map((url) => ({ url, inFlight: 0, downUntil: 0, ok: 0, failed: 0 }));
  }

  /**
   * The order in which one request should try endpoints: healthy ones by fewest in flight (ties
   * rotate so replicas share load), then the set-aside ones by soonest recovery as a last resort,
   * because a request that has nowhere else to go should still probe a possibly recovered replica.
   */
  plan(): EndpointState[] {
    const t = this.now();
    const start = this.next++ % Math.max(1, this.endpoints.length);
    const rotated = [...this.endpoints.slice(start), ...this.endpoints.slice(0, start)];
    const healthy = rotated.filter((e) => e.downUntil <= t).sort((a, b) => a.inFlight - b.inFlight);
    const down = rotated.filter((e) => e.downUntil > t).sort((a, b) => a.downUntil - b.downUntil);
    return [...healthy, ...down];
  }

  begin(e: EndpointState): void {
    e.inFlight++;
  }

  succeed(e: EndpointState): void {
    e.inFlight--;
    e.ok++;
    e.downUntil = 0;
  }

  /** A failure the endpoint is responsible for (connection, timeout, 5xx, 429 after retries). */
  fail(e: EndpointState): void {
    e.inFlight--;
    e.failed++;
    e.downUntil = this.now() + this.cooldownMs;
  }

  /** A request that ended for a reason that says nothing about the endpoint (abort, 4xx). */
  release(e: EndpointState): void {
    e.inFlight--;
  }

  healthyCount(): number {
    const t = this.now();
    return this.endpoints.filter((e) => e.downUntil <= t).length;
  }
}

/**
 * A counting semaphore whose waiters can be aborted.
 * Not p-limit: it cannot drop one queued waiter when that caller's AbortSignal fires.
 */
export class Semaphore {
  private active = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) throw signal.reason ?? new Error("aborted");
    if (this.active < this.limit) {
      this.active++;
      return this.releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const wake = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(wake);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal?.reason ?? new Error("aborted"));
      };
      this.waiters.push(wake);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
    // The slot was handed over by the releaser, so `active` already counts us.
    return this.releaser();
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const wake = this.waiters.shift();
      if (wake) wake();
      else this.active--;
    };
  }
}

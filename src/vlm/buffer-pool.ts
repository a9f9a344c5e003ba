/**
 * Reusable memory for the judge's big buffers: the image files it reads and the request bodies the
 * client encodes.
 *
 * Every such buffer lives outside the V8 heap, and V8 counts that memory toward its full-GC trigger:
 * reading a pair of 512x512 PNGs (0.75 MB) per comparison set off a mark-compact about every dozen
 * pairs, some 3 ms per pair on average, and under load 1 MB bodies held for a round trip did the same
 * (bench/RESULTS.md). Owners take memory here and hand it back when done (the judge at the end of a
 * comparison, the client at the end of a call), so steady state allocates nothing.
 *
 * Only memory this pool handed out is ever taken back: `release` ignores any other buffer (a
 * caller's own bytes, sharp's output), and memory that is never released is simply collected.
 */

/** Capacity granularity, so images of slightly different sizes share buffers. */
const ROUND = 64 * 1024;

export class BufferPool {
  private readonly free: ArrayBuffer[] = [];
  private freeBytes = 0;
  private readonly leased = new WeakSet<ArrayBuffer>();

  /** @param maxFreeBytes memory kept for reuse at most; beyond it released buffers go to the GC. */
  constructor(readonly maxFreeBytes = 64 * 1024 * 1024) {}

  /** A buffer of exactly `size` bytes, uninitialised. */
  acquire(size: number): Buffer {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const capacity = (this.free[i] as ArrayBuffer).byteLength;
      if (capacity >= size && (best < 0 || capacity < (this.free[best] as ArrayBuffer).byteLength)) best = i;
    }
    let memory: ArrayBuffer;
    if (best >= 0) {
      memory = this.free.splice(best, 1)[0] as ArrayBuffer;
      this.freeBytes -= memory.byteLength;
    } else {
      memory = Buffer.allocUnsafeSlow(Math.max(ROUND, Math.ceil(size / ROUND) * ROUND)).buffer as ArrayBuffer;
    }
    this.leased.add(memory);
    return Buffer.from(memory, 0, size);
  }

  /** Hands memory back for reuse; the buffer (and any view of it) must not be used afterwards. */
  release(buffer: Uint8Array): void {
    const memory = buffer.buffer as ArrayBuffer;
    if (!this.leased.has(memory)) return;
    this.leased.delete(memory);
    if (this.freeBytes + memory.byteLength > this.maxFreeBytes) return;
    this.free.push(memory);
    this.freeBytes += memory.byteLength;
  }
}

/**
 * Bounds concurrent jobs (PISTON_MAX_CONCURRENT_JOBS): extra jobs wait in FIFO order, as in Piston.
 * A slot number comes with each turn; the sandbox keys a host uid and a cgroup on it.
 */

/** Raised to waiters when the engine closes. */
export class QueueClosedError extends Error {
  constructor() {
    super('the engine is shutting down');
    this.name = 'QueueClosedError';
  }
}

/** A FIFO of job slots. */
export class JobQueue {
  private readonly free: number[];
  private readonly waiting: { resolve: (slot: number) => void; reject: (err: Error) => void }[] = [];
  private closed = false;

  /**
   * @param prefer which free slots to hand out first (the engine prefers slots whose sandbox is
   *   already prepared, so a slot just released has time to prepare its next one)
   */
  constructor(readonly size: number, private readonly prefer: (slot: number) => boolean = () => false) {
    this.free = Array.from({ length: size }, (_, i) => i);
  }

  /** Jobs holding a slot. */
  get running(): number {
    return this.size - this.free.length;
  }

  /** Jobs waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Waits for a free slot; rejects with QueueClosedError once closed. */
  acquire(): Promise<number> {
    if (this.closed) return Promise.reject(new QueueClosedError());
    const i = this.free.findIndex(this.prefer);
    const slot = i >= 0 ? this.free.splice(i, 1)[0] : this.free.shift();
    if (slot !== undefined) return Promise.resolve(slot);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  /** Returns a slot; the longest waiter gets it. */
  release(slot: number): void {
    const next = this.waiting.shift();
    if (next) next.resolve(slot);
    else this.free.push(slot);
  }

  /** Rejects every waiter and refuses new ones. */
  close(): void {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.reject(new QueueClosedError());
  }
}

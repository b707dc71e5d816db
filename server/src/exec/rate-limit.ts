/**
 * Sliding-window rate limits (runs per room and per participant, execute requests per address).
 * Time is injectable so tests can drive it.
 */

/** Counts events per key within a window; `take` says whether one more is allowed now. */
export class RateLimiter {
  private readonly hits = new Map<string, number[]>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records an event for `key` if allowed; returns false (recording nothing) when over the limit. */
  take(key: string): boolean {
    const t = this.now();
    const recent = (this.hits.get(key) ?? []).filter((h) => h > t - this.windowMs);
    if (recent.length >= this.limit) {
      this.hits.set(key, recent);
      return false;
    }
    recent.push(t);
    this.hits.set(key, recent);
    if (this.hits.size > 10_000) this.prune(t);
    return true;
  }

  /** Seconds until `key` may act again (0 when it may now). */
  retryAfter(key: string): number {
    const t = this.now();
    const recent = (this.hits.get(key) ?? []).filter((h) => h > t - this.windowMs);
    if (recent.length < this.limit) return 0;
    const oldest = recent[0] ?? t;
    return Math.max(1, Math.ceil((oldest + this.windowMs - t) / 1000));
  }

  /** Forgets `key` (a participant left). */
  forget(key: string): void {
    this.hits.delete(key);
  }

  private prune(t: number): void {
    for (const [k, v] of this.hits) if (!v.some((h) => h > t - this.windowMs)) this.hits.delete(k);
  }
}

import { describe, expect, it } from 'vitest';
import { createMetrics } from '../src/metrics.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const busy = (ms: number) => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // block the event loop, as a long synchronous task would
  }
};
const read = (text: string, name: string): number => {
  const m = new RegExp(`^codex_process_${name} (\\S+)$`, 'm').exec(text);
  if (!m?.[1]) throw new Error(`${name} missing from /metrics`);
  return Number(m[1]);
};

describe('event-loop delay metrics', () => {
  it('report the delay beyond the 1 s sampling interval, not the interval itself', async () => {
    const metrics = createMetrics();
    await sleep(2300); // two samples of an idle loop
    const idle = await metrics.registry.metrics();
    expect(read(idle, 'eventloop_lag_samples')).toBeGreaterThanOrEqual(1);
    // prom-client's own gauges read ~1.0 here (the whole 1 s interval); the margin is for a busy CI
    expect(read(idle, 'nodejs_eventloop_lag_max_seconds')).toBeLessThan(0.9);
    expect(read(idle, 'nodejs_eventloop_lag_p50_seconds')).toBeLessThan(0.9);

    busy(2500); // overlaps a sample's due time: that sample comes 1.5–2.5 s late
    await sleep(1200);
    const stalled = await metrics.registry.metrics();
    expect(read(stalled, 'nodejs_eventloop_lag_max_seconds')).toBeGreaterThan(1.2);
    expect(read(stalled, 'nodejs_eventloop_lag_max_seconds')).toBeLessThan(3);

    // every scrape starts a new window
    await sleep(2300);
    expect(read(await metrics.registry.metrics(), 'nodejs_eventloop_lag_max_seconds')).toBeLessThan(0.9);
  }, 15_000);
});

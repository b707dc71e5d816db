/**
 * Event-loop delay gauges, sampled once a second. prom-client's own
 * `nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds` report each sample's whole
 * interval (the sampling resolution plus the lag): at its default 10 ms resolution they read about
 * 0.01 on an idle process, and at the 1 s resolution CodeX uses (each sample wakes the process,
 * see metrics.ts) about 1.0, which reads as a one-second stall. These gauges keep the same names
 * and report only the delay beyond the interval.
 */
import { createHistogram } from 'node:perf_hooks';
import { Gauge, type Registry } from 'prom-client';

/** How often the loop is sampled (ms). A stall shows when it overlaps a sample's due time. */
export const LAG_SAMPLE_MS = 1000;

const STATS = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'] as const;
type Stat = (typeof STATS)[number];

/** The metric name of one statistic, as prom-client names it. */
export const lagMetricName = (prefix: string, stat: Stat): string => `${prefix}nodejs_eventloop_lag_${stat}_seconds`;

/**
 * Replaces prom-client's lag statistics in `registry` (registered by collectDefaultMetrics with
 * `prefix`) by gauges of the delay beyond {@link LAG_SAMPLE_MS}, reset at every scrape.
 */
export function registerEventLoopDelay(registry: Registry, prefix: string): void {
  for (const stat of STATS) registry.removeSingleMetric(lagMetricName(prefix, stat));
  // A timer of our own rather than monitorEventLoopDelay: that one forgets its previous sample
  // when reset, so the first interval after every scrape would go unmeasured.
  const histogram = createHistogram();
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    histogram.record(Math.max(1, Math.round((now - last - LAG_SAMPLE_MS) * 1e6))); // ns, at least 1
    last = now;
  }, LAG_SAMPLE_MS).unref();
  const seconds = (ns: number): number => (Number.isFinite(ns) ? ns / 1e9 : 0);
  const read: Record<Stat, () => number> = {
    min: () => seconds(histogram.min),
    max: () => seconds(histogram.max),
    mean: () => seconds(histogram.mean),
    stddev: () => seconds(histogram.stddev),
    p50: () => seconds(histogram.percentile(50)),
    p90: () => seconds(histogram.percentile(90)),
    p99: () => seconds(histogram.percentile(99)),
  };
  // Registered first, so that at a scrape its collect (which sets every statistic from one
  // reading and starts the next window) runs before the statistics are read.
  new Gauge({
    name: `${prefix}eventloop_lag_samples`,
    help: `event-loop delay samples (one per ${LAG_SAMPLE_MS} ms) since the previous scrape`,
    registers: [registry],
    collect() {
      this.set(histogram.count);
      for (const [stat, gauge] of gauges) gauge.set(histogram.count > 0 ? read[stat]() : 0);
      histogram.reset();
    },
  });
  const gauges = STATS.map(
    (stat) =>
      [
        stat,
        new Gauge({
          name: lagMetricName(prefix, stat),
          help: `event-loop delay beyond the ${LAG_SAMPLE_MS} ms sampling interval: ${stat} since the previous scrape`,
          registers: [registry],
        }),
      ] as const,
  );
}

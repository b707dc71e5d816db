/**
 * Prometheus metrics. One registry per server instance, so several servers in one test process
 * never collide; features receive the Metrics object and own their counters' meaning.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { registerEventLoopDelay } from './event-loop-delay.js';

const PROCESS_PREFIX = 'codex_process_';
/** The longest timer Node accepts (~24.8 days). */
const NEVER_MS = 2 ** 31 - 1;

/** The metrics every feature reports into. */
export interface Metrics {
  registry: Registry;
  roomsLoaded: Gauge;
  peers: Gauge;
  messagesIn: HotCounter;
  messagesOut: HotCounter;
  bytesIn: HotCounter;
  bytesOut: HotCounter;
  storageWriteSeconds: Histogram;
  socketsClosed: Counter<'code'>;
  runsStarted: Counter;
  runsActive: Gauge;
}

/**
 * A counter on the per-message path, by one label (`kind`) or none. Increments add to plain
 * numbers that reach prom-client only when /metrics is scraped: a prom-client `inc` with labels
 * hashes its label object on every call, four times per message and per recipient here.
 */
export interface HotCounter {
  /** adds `n` (default 1) under label value `kind` (`''` for an unlabelled counter) */
  add(n?: number, kind?: string): void;
}

function hotCounter(opts: { name: string; help: string; labelled: boolean; registry: Registry }): HotCounter {
  const pending = new Map<string, number>();
  new Counter<'kind'>({
    name: opts.name,
    help: opts.help,
    labelNames: opts.labelled ? ['kind'] : [],
    registers: [opts.registry],
    collect() {
      for (const [kind, n] of pending) {
        if (opts.labelled) this.inc({ kind }, n);
        else this.inc(n);
      }
      pending.clear();
    },
  });
  return {
    add(n = 1, kind = '') {
      pending.set(kind, (pending.get(kind) ?? 0) + n);
    },
  };
}

/** Creates a fresh registry with the process defaults and CodeX's own metrics. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  // The event-loop-lag histogram samples on a libuv timer, and each sample wakes the process: at
  // prom-client's default 10 ms that is ~12 ms of CPU per idle second, at 100 ms still ~1 ms/s
  // (bench:sync, about 5 % of the CPU per keystroke in a small room). So prom-client's sampler is
  // given an interval it never reaches, and event-loop-delay.ts samples once a second instead,
  // reporting the delay beyond that second (prom-client would report the whole interval, ~1.0 s).
  // That still shows sustained lag; short stalls show in the utilization gauge below, which costs
  // nothing between scrapes.
  collectDefaultMetrics({ register: registry, prefix: PROCESS_PREFIX, eventLoopMonitoringPrecision: NEVER_MS });
  registerEventLoopDelay(registry, PROCESS_PREFIX);
  const reg = { registers: [registry] };
  let lastElu = performance.eventLoopUtilization();
  new Gauge({
    name: 'codex_event_loop_utilization',
    help: 'share of time the event loop was busy since the previous scrape (0–1)',
    ...reg,
    collect() {
      const now = performance.eventLoopUtilization();
      this.set(performance.eventLoopUtilization(now, lastElu).utilization);
      lastElu = now;
    },
  });
  return {
    registry,
    roomsLoaded: new Gauge({ name: 'codex_rooms_loaded', help: 'rooms held in memory', ...reg }),
    peers: new Gauge({ name: 'codex_peers', help: 'connected document peers', ...reg }),
    messagesIn: hotCounter({ name: 'codex_messages_in_total', help: 'WebSocket messages received', labelled: true, registry }),
    messagesOut: hotCounter({ name: 'codex_messages_out_total', help: 'WebSocket messages sent (one per recipient)', labelled: true, registry }),
    bytesIn: hotCounter({ name: 'codex_bytes_in_total', help: 'WebSocket bytes received', labelled: false, registry }),
    bytesOut: hotCounter({ name: 'codex_bytes_out_total', help: 'WebSocket bytes sent (counted per recipient)', labelled: false, registry }),
    storageWriteSeconds: new Histogram({
      name: 'codex_storage_write_seconds', help: 'latency of one batched storage write',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], ...reg,
    }),
    socketsClosed: new Counter({ name: 'codex_sockets_closed_total', help: 'sockets closed by the server, by close code', labelNames: ['code'], ...reg }),
    runsStarted: new Counter({ name: 'codex_runs_started_total', help: 'shared runs started', ...reg }),
    runsActive: new Gauge({ name: 'codex_runs_active', help: 'shared runs in progress', ...reg }),
  };
}

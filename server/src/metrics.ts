/**
 * Prometheus metrics. One registry per server instance, so several servers in one test process
 * never collide; features receive the Metrics object and own their counters' meaning.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The metrics every feature reports into. */
export interface Metrics {
  registry: Registry;
  roomsLoaded: Gauge;
  peers: Gauge;
  messagesIn: Counter<'kind'>;
  messagesOut: Counter<'kind'>;
  bytesIn: Counter;
  bytesOut: Counter;
  storageWriteSeconds: Histogram;
  socketsClosed: Counter<'code'>;
  runsStarted: Counter;
  runsActive: Gauge;
}

/** Creates a fresh registry with the process defaults and CodeX's own metrics. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  // The event-loop-lag histogram samples on a libuv timer; prom-client's default 10 ms wakes an
  // idle server 100 times a second (a few ms of CPU per second, measured by bench:sync). 100 ms
  // still shows any lag that matters to a client.
  collectDefaultMetrics({ register: registry, prefix: 'codex_process_', eventLoopMonitoringPrecision: 100 });
  const reg = { registers: [registry] };
  return {
    registry,
    roomsLoaded: new Gauge({ name: 'codex_rooms_loaded', help: 'rooms held in memory', ...reg }),
    peers: new Gauge({ name: 'codex_peers', help: 'connected document peers', ...reg }),
    messagesIn: new Counter({ name: 'codex_messages_in_total', help: 'WebSocket messages received', labelNames: ['kind'], ...reg }),
    messagesOut: new Counter({ name: 'codex_messages_out_total', help: 'WebSocket messages sent (one per recipient)', labelNames: ['kind'], ...reg }),
    bytesIn: new Counter({ name: 'codex_bytes_in_total', help: 'WebSocket bytes received', ...reg }),
    bytesOut: new Counter({ name: 'codex_bytes_out_total', help: 'WebSocket bytes sent (counted per recipient)', ...reg }),
    storageWriteSeconds: new Histogram({
      name: 'codex_storage_write_seconds', help: 'latency of one batched storage write',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], ...reg,
    }),
    socketsClosed: new Counter({ name: 'codex_sockets_closed_total', help: 'sockets closed by the server, by close code', labelNames: ['code'], ...reg }),
    runsStarted: new Counter({ name: 'codex_runs_started_total', help: 'shared runs started', ...reg }),
    runsActive: new Gauge({ name: 'codex_runs_active', help: 'shared runs in progress', ...reg }),
  };
}

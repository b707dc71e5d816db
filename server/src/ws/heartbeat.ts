/**
 * WebSocket heartbeat. Every socket is pinged once per interval; a socket that has not answered
 * its previous ping is terminated, so a dead peer is dropped within two intervals (20 s with the
 * default 10 s) and its presence is removed by its `close` handler.
 *
 * The sockets are spread over SLICES groups pinged one after the other (one timer, a tick every
 * interval / SLICES), not all at once: pinging 600 sockets in one tick blocks the event loop for
 * several milliseconds, and every document update arriving meanwhile waits (it showed up as
 * 30–40 ms p99 latency spikes every 10 s in `bench:sync` (b), 200 rooms × 3 typists).
 */
import type { WebSocket } from 'ws';

/** Watches sockets for liveness. */
export interface Heartbeat {
  /** starts watching `ws` until it closes */
  add(ws: WebSocket): void;
  /** number of sockets watched */
  readonly size: number;
  stop(): void;
}

const SLICES = 10;

/** Starts a heartbeat pinging each socket every `intervalMs`; `onDead` is told before a socket is terminated. */
export function startHeartbeat(intervalMs: number, onDead: (ws: WebSocket) => void = () => {}): Heartbeat {
  /** slice → its sockets → answered the last ping */
  const slices = Array.from({ length: SLICES }, () => new Map<WebSocket, boolean>());
  let tick = 0;
  let added = 0;
  let watched = 0;
  let timer: NodeJS.Timeout | undefined;

  function beat(): void {
    const slice = slices[tick++ % SLICES];
    if (!slice) return;
    for (const [ws, ok] of slice) {
      if (!ok) {
        slice.delete(ws);
        onDead(ws);
        ws.terminate();
        continue;
      }
      slice.set(ws, false);
      try {
        ws.ping();
      } catch {
        // the socket is closing; its close event removes it
      }
    }
  }

  // The timer runs only while there are sockets: an idle server is not woken every second.
  function watching(delta: number): void {
    watched += delta;
    if (watched > 0 && !timer) {
      timer = setInterval(beat, Math.max(1, Math.round(intervalMs / SLICES)));
      timer.unref();
    } else if (watched === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  }

  return {
    add(ws) {
      // Round-robin keeps the slices even however sockets come and go.
      const slice = slices[added++ % SLICES];
      if (!slice) return;
      slice.set(ws, true);
      watching(1);
      ws.on('pong', () => {
        if (slice.has(ws)) slice.set(ws, true);
      });
      ws.once('close', () => {
        slice.delete(ws);
        watching(-1);
      });
    },
    get size() {
      return slices.reduce((n, slice) => n + slice.size, 0);
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
      for (const slice of slices) slice.clear();
    },
  };
}

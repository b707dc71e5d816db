/**
 * WebSocket heartbeat: one timer for all sockets. Each tick pings every socket; a socket that
 * has not answered the previous tick's ping is terminated, so a dead peer is dropped within two
 * intervals (20 s with the default 10 s) and its presence is removed by its `close` handler.
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

/** Starts a heartbeat ticking every `intervalMs`; `onDead` is told before a socket is terminated. */
export function startHeartbeat(intervalMs: number, onDead: (ws: WebSocket) => void = () => {}): Heartbeat {
  const alive = new Map<WebSocket, boolean>();
  const timer = setInterval(() => {
    for (const [ws, ok] of alive) {
      if (!ok) {
        alive.delete(ws);
        onDead(ws);
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      try {
        ws.ping();
      } catch {
        // the socket is closing; its close event removes it
      }
    }
  }, intervalMs);
  timer.unref();
  return {
    add(ws) {
      alive.set(ws, true);
      ws.on('pong', () => {
        if (alive.has(ws)) alive.set(ws, true);
      });
      ws.once('close', () => alive.delete(ws));
    },
    get size() {
      return alive.size;
    },
    stop() {
      clearInterval(timer);
      alive.clear();
    },
  };
}

/**
 * Test helper: a room bus listener that records what it receives and lets a test wait for a
 * condition on it (event driven: re-checked on every delivery, no polling sleeps).
 */
import type { ResyncReason, RoomBusListener, RoomBusMessage } from '../../src/scale/redis-room-bus.js';

/** A recording listener. */
export interface BusCollector extends RoomBusListener {
  messages: RoomBusMessage[];
  resyncs: { room: string; reason: ResyncReason }[];
  /** resolves once `pred()` holds (checked now and after each delivery); rejects after `timeoutMs` */
  until(pred: () => boolean, what: string, timeoutMs?: number): Promise<void>;
}

/** A fresh recording listener. */
export function busCollector(): BusCollector {
  const waiters = new Set<() => void>();
  const notify = (): void => {
    for (const w of [...waiters]) w();
  };
  const c: BusCollector = {
    messages: [],
    resyncs: [],
    message(msg) {
      c.messages.push(msg);
      notify();
    },
    resync(room, reason) {
      c.resyncs.push({ room, reason });
      notify();
    },
    until(pred, what, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        if (pred()) return resolve();
        const check = (): void => {
          if (!pred()) return;
          cleanup();
          resolve();
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${what} (${c.messages.length} messages, ${c.resyncs.length} resyncs)`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
      });
    },
  };
  return c;
}

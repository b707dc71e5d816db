/**
 * The write path from loaded rooms to storage. Changed rooms are written together: `flushMs`
 * after the first pending update, every room's pending updates go to the store in one batch.
 * After a write, a room whose stored history has grown well past its document is compacted into
 * one encoded state.
 */
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Room } from './room.js';
import type { PendingUpdate, RoomStore } from './store/store.js';

/** Write cadence and compaction thresholds (from RegistryOptions). */
export interface RoomWriterOptions {
  flushMs: number;
  /** compact a room once its stored history has this many rows… */
  compactRows?: number;
  /** …or is this many times (and at least 64 KiB) larger than its last compacted state */
  compactRatio?: number;
}

/** Writes rooms' pending updates and compacts their histories. */
export class RoomWriter {
  private readonly dirty = new Set<Room>();
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly compactRows: number;
  private readonly compactRatio: number;

  constructor(
    private readonly store: RoomStore,
    private readonly opts: RoomWriterOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    // Re-encoding a 1 MB document takes ~100 ms of event loop; by rows alone it happens at most
    // every 5000 updates (minutes of typing), by bytes once the history doubled the document.
    this.compactRows = opts.compactRows ?? 5000;
    this.compactRatio = opts.compactRatio ?? 2;
  }

  /**
   * `room` has a new pending update. The timer alone decides when to write: writing earlier, in
   * the wake-up of a message already under way, saves no wake-up, since Node leaves its libuv
   * timer armed for a cleared timeout's due time (strace: the same count of epoll waits).
   */
  changed(room: Room): void {
    this.dirty.add(room);
    if (!this.flushTimer && !this.closed) this.flushTimer = setTimeout(() => void this.flush(), this.opts.flushMs);
  }

  /** Writes every pending update now (also what the flush timer runs). */
  flush(): Promise<void> {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    // Flushes run one after the other so compaction never races an append of the same room.
    this.flushing = this.flushing.then(() => this.writePending()).catch((err: unknown) => {
      this.log.error({ err }, 'storage write failed');
    });
    return this.flushing;
  }

  /** Flushes what is pending; no timer is armed afterwards (shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  /** Drops an unloaded room (its updates were flushed). */
  forget(room: Room): void {
    this.dirty.delete(room);
  }

  /** Replaces the room's stored rows (all of which the doc contains) by one encoded state. */
  async compact(room: Room): Promise<void> {
    const state = room.encodeState();
    const end = this.metrics.storageWriteSeconds.startTimer();
    const seq = await this.store.compact(room.id, state, room.history.lastSeq);
    end();
    room.history.lastSeq = seq;
    room.history.storedRows = 1;
    room.history.storedBytes = state.length;
    room.compactedBytes = state.length;
    this.log.debug({ room: room.id, bytes: state.length }, 'room compacted');
  }

  private async writePending(): Promise<void> {
    if (this.dirty.size === 0) return;
    const rooms = [...this.dirty];
    this.dirty.clear();
    const batch: PendingUpdate[] = [];
    for (const room of rooms) {
      for (const update of room.takePending()) {
        batch.push({ roomId: room.id, update });
        room.history.storedBytes += update.length;
        room.history.storedRows++;
      }
    }
    const end = this.metrics.storageWriteSeconds.startTimer();
    let lastSeqs: Map<string, number>;
    try {
      lastSeqs = await this.store.appendUpdates(batch);
    } catch (err) {
      // Keep the updates: they go out with the next flush.
      for (const room of rooms) room.pending.unshift(...batch.filter((b) => b.roomId === room.id).map((b) => b.update));
      for (const room of rooms) this.changed(room);
      throw err;
    } finally {
      end();
    }
    for (const room of rooms) {
      const seq = lastSeqs.get(room.id);
      if (seq !== undefined) room.history.lastSeq = seq;
      if (this.shouldCompact(room)) await this.compact(room);
    }
  }

  private shouldCompact(room: Room): boolean {
    const h = room.history;
    if (h.storedRows <= 1) return false;
    return h.storedRows >= this.compactRows || h.storedBytes > Math.max(64 * 1024, this.compactRatio * room.compactedBytes);
  }
}

/**
 * Delivery of one run's frames to its participants: every frame is serialized once into a Buffer
 * and the same bytes are written to every socket. A socket whose send buffer passes the high-water
 * mark stops receiving live frames and is fed from the replay buffer each time its socket has
 * drained (a ping is queued behind its data: the ping's write callback is the drain signal), and
 * told with a `gap` frame about frames that left the buffer meanwhile. A slow or stalled socket therefore
 * costs at most its high-water mark in memory and never delays the others.
 */
import type WebSocket from 'ws';
import type { DoneFrame, GapFrame, NumberedFrame, RunStarted } from '@codex/shared';
import type { Metrics } from '../metrics.js';
import { ReplayBuffer } from './replay-buffer.js';

/** A connected participant of a room's exec channel. */
export interface Participant {
  readonly id: string;
  readonly name: string;
  readonly ws: WebSocket;
}

/** Delivery state of one participant for one run. */
interface Cursor {
  /** next numbered seq this participant needs */
  next: number;
  /** receiving frames as they are produced (false: fed from the replay buffer as its socket drains) */
  live: boolean;
  startSent: boolean;
  endSent: boolean;
  /** a drain signal is pending */
  waiting: boolean;
}

/** A numbered frame before the fan-out adds `run` and `seq` (distributed over the union's members). */
export type UnnumberedFrame = NumberedFrame extends infer F ? (F extends NumberedFrame ? Omit<F, 'run' | 'seq'> : never) : never;

/** Serializes a frame once, as the bytes every socket receives. */
export function encodeFrame(frame: object): Buffer {
  return Buffer.from(JSON.stringify(frame));
}

/** Options of a fan-out. */
export interface FanOutOptions {
  runId: string;
  bufferBytes: number;
  /** a socket with more than this many bytes waiting is fed from the replay buffer instead of live */
  highWaterBytes: number;
  /** counts every send (frames, bytes) */
  onSent?(frames: number, bytes: number): void;
  /** every frame of the run as it is produced, numbered (runs shared across instances relay them) */
  onFrame?(frame: RunStarted | NumberedFrame | DoneFrame): void;
}

/** The fan-out options every run shares: the replay buffer, the high-water mark, and sends counted as `exec` messages. */
export function countedFanOut(
  bufferBytes: number,
  highWaterBytes: number,
  metrics: Pick<Metrics, 'messagesOut' | 'bytesOut'>,
): Pick<FanOutOptions, 'bufferBytes' | 'highWaterBytes' | 'onSent'> {
  return {
    bufferBytes,
    highWaterBytes,
    onSent: (frames, bytes) => {
      if (frames > 0) metrics.messagesOut.add(frames, 'exec');
      if (bytes > 0) metrics.bytesOut.add(bytes);
    },
  };
}

/** The frames of one run and who has received how much of them. */
export class FanOut {
  readonly buffer: ReplayBuffer;
  private readonly cursors = new Map<Participant, Cursor>();
  private startBytes: Buffer | null = null;
  private endBytes: Buffer | null = null;
  private closed = false;

  constructor(private readonly opts: FanOutOptions) {
    this.buffer = new ReplayBuffer(opts.bufferBytes);
  }

  /** Sets the unnumbered first frame (`run`); must be called before any numbered frame. */
  start(frame: RunStarted): void {
    this.startBytes = encodeFrame(frame);
    this.opts.onFrame?.(frame);
    for (const [p, c] of this.cursors) if (c.live) this.deliverStart(p, c);
  }

  /** Adds a participant; it receives the start frame, frames from `since`, the end frame if any, then live ones. */
  attach(p: Participant, since = 0): void {
    const next = Math.max(0, Math.min(Math.floor(since), this.buffer.nextSeq));
    const c: Cursor = { next, live: false, startSent: false, endSent: false, waiting: false };
    this.cursors.set(p, c);
    this.feed(p, c);
  }

  /** Removes a participant (it left, or a new run took over). */
  detach(p: Participant): void {
    this.cursors.delete(p);
  }

  /** Numbers `frame`, keeps it for replay and sends it to every live participant; returns its seq. */
  emit(frame: UnnumberedFrame): number {
    const seq = this.buffer.nextSeq;
    const numbered: NumberedFrame = { ...frame, run: this.opts.runId, seq };
    const bytes = encodeFrame(numbered);
    this.buffer.push(seq, bytes);
    this.opts.onFrame?.(numbered);
    let sent = 0;
    for (const [p, c] of this.cursors) {
      if (!c.live) continue;
      if (c.next !== seq || p.ws.bufferedAmount > this.opts.highWaterBytes) {
        c.live = false;
        this.waitDrain(p, c);
        continue;
      }
      this.send(p, bytes);
      c.next = seq + 1;
      sent += 1;
    }
    this.opts.onSent?.(sent, sent * bytes.length);
    return seq;
  }

  /** Sets the unnumbered last frame (`done`) and sends it to every participant that is caught up. */
  end(frame: DoneFrame): void {
    this.endBytes = encodeFrame(frame);
    this.opts.onFrame?.(frame);
    for (const [p, c] of this.cursors) {
      if (c.live && c.next === this.buffer.nextSeq) {
        this.send(p, this.endBytes);
        c.endSent = true;
      }
    }
  }

  /** True when every attached participant has been sent the end frame. */
  get drained(): boolean {
    return [...this.cursors.values()].every((c) => c.endSent);
  }

  /** Forgets everyone (pending drain signals are ignored). */
  close(): void {
    this.closed = true;
    this.cursors.clear();
  }

  private deliverStart(p: Participant, c: Cursor): void {
    if (c.startSent || !this.startBytes) return;
    this.send(p, this.startBytes);
    c.startSent = true;
  }

  /** Sends what `p` is missing while its socket has room; makes it live once caught up. */
  private feed(p: Participant, c: Cursor): void {
    const ws = p.ws;
    if (ws.readyState !== ws.OPEN) return;
    if (!this.startBytes) {
      c.live = true; // nothing to send before the start frame exists
      return;
    }
    let frames = 0;
    let bytes = 0;
    while (ws.bufferedAmount <= this.opts.highWaterBytes) {
      if (!c.startSent) {
        this.deliverStart(p, c);
        continue;
      }
      if (c.next < this.buffer.firstSeq) {
        const gap: GapFrame = { type: 'gap', run: this.opts.runId, from: c.next, to: this.buffer.firstSeq - 1 };
        this.send(p, encodeFrame(gap));
        c.next = this.buffer.firstSeq;
        continue;
      }
      const stored = this.buffer.get(c.next);
      if (stored) {
        this.send(p, stored.bytes);
        frames += 1;
        bytes += stored.bytes.length;
        c.next += 1;
        continue;
      }
      // caught up
      if (this.endBytes && !c.endSent) {
        this.send(p, this.endBytes);
        c.endSent = true;
      }
      c.live = true;
      break;
    }
    this.opts.onSent?.(frames, bytes);
    if (!c.live) this.waitDrain(p, c);
  }

  private send(p: Participant, bytes: Buffer): void {
    // A Buffer with binary:false goes out as a text frame without another copy or encoding.
    if (p.ws.readyState === p.ws.OPEN) p.ws.send(bytes, { binary: false });
  }

  /**
   * Feeds `p` again once everything queued on its socket so far has been written: a ping queued
   * now is written after that data, so its callback is the drain signal. A stalled socket never
   * drains, and costs nothing more than what is already queued on it.
   */
  private waitDrain(p: Participant, c: Cursor): void {
    if (c.waiting || p.ws.readyState !== p.ws.OPEN) return;
    c.waiting = true;
    p.ws.ping(undefined, undefined, (err) => {
      c.waiting = false;
      if (err || this.closed || this.cursors.get(p) !== c || c.live) return;
      this.feed(p, c);
    });
  }
}

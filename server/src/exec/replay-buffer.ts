/**
 * The numbered frames of one run, kept for late joiners and lagging participants, bounded in
 * bytes: when a new frame would pass the cap, the oldest frames are dropped (a participant that
 * asks for them is told with a `gap` frame). Each frame is stored as the exact bytes sent live.
 */

/** One stored frame: its seq and its serialized text as a Buffer (sent as a text frame). */
export interface StoredFrame {
  seq: number;
  bytes: Buffer;
}

/** A bounded FIFO of a run's numbered frames. */
export class ReplayBuffer {
  /** entries before `head` are dropped (undefined) until the array is compacted */
  private frames: (StoredFrame | undefined)[] = [];
  /** index of the first live entry in `frames` (entries before it were dropped) */
  private head = 0;
  private size = 0;
  /** seq of the next frame to be pushed */
  private next = 0;

  constructor(private readonly capBytes: number) {}

  /** Adds the frame numbered `seq` (must be the next seq). */
  push(seq: number, bytes: Buffer): void {
    if (seq !== this.next) throw new Error(`replay buffer expected seq ${this.next}, got ${seq}`);
    this.next = seq + 1;
    this.frames.push({ seq, bytes });
    this.size += bytes.length;
    // Always keep the newest frame, even if it alone passes the cap.
    while (this.size > this.capBytes && this.frames.length - this.head > 1) {
      const dropped = this.frames[this.head];
      if (!dropped) break;
      this.size -= dropped.bytes.length;
      this.frames[this.head] = undefined; // let the bytes be collected
      this.head += 1;
    }
    // Compact now and then so the array does not grow with the dropped prefix.
    if (this.head > 1024 && this.head * 2 > this.frames.length) {
      this.frames = this.frames.slice(this.head);
      this.head = 0;
    }
  }

  /** The lowest seq still kept (equals `nextSeq` when empty). */
  get firstSeq(): number {
    return this.frames[this.head]?.seq ?? this.next;
  }

  /** The seq the next pushed frame will carry. */
  get nextSeq(): number {
    return this.next;
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.size;
  }

  /** The stored frame numbered `seq`, or undefined when dropped or not yet pushed. */
  get(seq: number): StoredFrame | undefined {
    const first = this.firstSeq;
    if (seq < first || seq >= this.next) return undefined;
    return this.frames[this.head + (seq - first)];
  }
}

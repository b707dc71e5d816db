/**
 * Runs shared across instances (`CODEX_REDIS_URL`, docs/scale.md §5): one instance drives a
 * room's run (it holds the room's `run` lease and its RunSession talks to the engine), and every
 * other instance with participants in the room mirrors it. The driver publishes each frame of its
 * run (as its fan-out numbers it) through the relay; a mirror receives them in order and feeds them
 * to a local fan-out that numbers them again, identically, so every participant on every instance
 * sees the same frames with the same `seq`, and late joiners get the same replay. Stdin and stop
 * requests on a mirror travel to the driver. The relay (scale/run-relay.ts) does the transport,
 * the lease and the ending of a vanished driver's run; this module is the exec side of it.
 */
import { LIMITS, STOP_SIGNALS, type DoneFrame, type NumberedFrame, type RunStarted, type RunSummary, type SignalRequest, type StdinRequest } from '@codex/shared';
import type { Logger } from '../log.js';
import { FanOut, type FanOutOptions, type Participant } from './fan-out.js';
import type { RoomPort } from './room-port.js';

/** A frame of a run as it travels between instances. */
export type SharedFrame = RunStarted | NumberedFrame | DoneFrame;

/** Stdin or a stop request for a run, on its way to the run's driver. */
export interface SharedRunInput {
  run: string;
  by: string;
  frame: StdinRequest | SignalRequest;
}

/** This instance driving a run. */
export interface SharedDrive {
  /** publishes frames in order as one entry; false once the lease is lost */
  sendAll(frames: readonly SharedFrame[]): Promise<boolean>;
  /** releases the lease after `done` */
  end(): Promise<void>;
}

/** The relay as the exec channel uses it (scale/shared-runs.ts implements it). */
export interface RunSharing {
  watch(room: string): Promise<void>;
  unwatch(room: string): void;
  /** null when a run is going anywhere */
  drive(room: string, run: string, onInput?: (input: SharedRunInput) => void): Promise<SharedDrive | null>;
  forward(room: string, input: SharedRunInput): Promise<void>;
  setHandlers(handlers: { onFrame(room: string, frame: SharedFrame): void; onTakenOver(room: string, done: DoneFrame): void }): void;
}

/** What a room's exec state holds as its current or last run: a local RunSession or a mirror. */
export interface RoomRun {
  readonly id: string;
  readonly fanOut: FanOut;
  /** resolves once the run is over here (its `done` went out, or it was dropped at shutdown) */
  readonly finished: Promise<void>;
  attach(p: Participant, since?: number): void;
  detach(p: Participant): void;
  stdin(by: string, data: string): void;
  stop(signal: string, by: string): void;
  abort(reason: string): void;
}

/** Another instance's run, mirrored here. */
export class RemoteRun implements RoomRun {
  readonly id: string;
  readonly fanOut: FanOut;
  readonly finished: Promise<void>;
  private resolveFinished!: () => void;
  private readonly startedAt = new Date();
  private language: string;
  private version: string;
  private output = '';
  private outputBytes = 0;

  constructor(
    private readonly room: string,
    private readonly start: RunStarted,
    private readonly sharing: RunSharing,
    fanOut: Omit<FanOutOptions, 'runId'>,
    private readonly log: Logger,
  ) {
    this.id = start.run;
    this.language = start.language;
    this.version = start.version;
    this.finished = new Promise((r) => (this.resolveFinished = r));
    this.fanOut = new FanOut({ ...fanOut, runId: this.id });
    this.fanOut.start(start);
  }

  /** A numbered frame of this run from the driver, in stream order. */
  push(frame: NumberedFrame): void {
    const { run: _run, seq, ...rest } = frame;
    if (seq !== this.fanOut.buffer.nextSeq) {
      // the stream lost entries (Redis restarted, or the cap trimmed them): numbering would drift
      this.log.warn({ room: this.room, run: this.id, seq, expected: this.fanOut.buffer.nextSeq }, 'relayed run frame out of sequence');
    }
    this.fanOut.emit(rest);
    if (frame.type === 'runtime') {
      this.language = frame.language || this.language;
      this.version = frame.version || this.version;
    } else if (frame.type === 'data' && frame.stream !== 'stdin' && this.outputBytes < LIMITS.summaryOutput) {
      const take = Buffer.from(frame.data).subarray(0, LIMITS.summaryOutput - this.outputBytes);
      this.outputBytes += take.length;
      this.output += take.toString('utf8').replace(/\uFFFD$/, '');
    }
  }

  /** The run's `done`: the last frame. */
  end(done: DoneFrame): void {
    this.fanOut.end(done);
    this.resolveFinished();
  }

  /** The summary for the document, when this instance ended the run of a vanished driver. */
  summary(done: DoneFrame): RunSummary {
    return {
      run: this.id, by: this.start.by, language: this.language, version: this.version,
      startedAt: this.startedAt.toISOString(), wall_ms: done.wall_ms ?? 0,
      code: done.code, signal: done.signal, status: done.status ?? null, message: done.message ?? null, output: this.output,
    };
  }

  attach(p: Participant, since = 0): void {
    this.fanOut.attach(p, since);
  }

  detach(p: Participant): void {
    this.fanOut.detach(p);
  }

  stdin(by: string, data: string): void {
    this.forward({ run: this.id, by, frame: { type: 'data', stream: 'stdin', data } });
  }

  stop(signal: string, by: string): void {
    const s = STOP_SIGNALS.find((x) => x === signal);
    if (s) this.forward({ run: this.id, by, frame: { type: 'signal', signal: s } });
  }

  /** Shutdown of this instance: the run goes on at its driver; only this mirror ends. */
  abort(): void {
    this.resolveFinished();
  }

  private forward(input: SharedRunInput): void {
    this.sharing.forward(this.room, input).catch((err: unknown) => {
      this.log.warn({ room: this.room, run: this.id, err: err instanceof Error ? err.message : String(err) }, 'could not forward input to the run');
    });
  }
}

/** The room state the mirror works on (RoomExec of room-requests.ts, structurally). */
export interface MirroredRoom {
  readonly id: string;
  readonly members: ReadonlySet<Participant>;
  current: RoomRun | null;
  last: RoomRun | null;
}

/** A local run this instance drives: how its frames reach the other instances. */
export interface DrivenRun {
  readonly id: string;
  stdin(by: string, data: string): void;
  stop(signal: string, by: string): void;
}

/** Options of {@link createRunMirror}. */
export interface RunMirrorDeps {
  sharing: RunSharing;
  /** the channel's rooms with participants on this instance */
  rooms: ReadonlyMap<string, MirroredRoom>;
  port: RoomPort;
  log: Logger;
  fanOut: Omit<FanOutOptions, 'runId'>;
  /** a mirrored run ended: the channel may drop the room if no one is left */
  onSettled(roomId: string): void;
}

/** The exec side of shared runs for one channel. */
export interface RunMirror {
  /** a room got its first participant here: watch its runs (what the stream holds is replayed first) */
  opened(room: MirroredRoom): void;
  /** the room has no participant and no run here any more */
  dropped(roomId: string): void;
  /** true while a room's replay is being read: joiners are attached once it is done */
  replaying(roomId: string): boolean;
  /** takes the room's run for `run` (false: a run is going on another instance) */
  claim(roomId: string, run: DrivenRun): Promise<boolean>;
  /** a frame of a claimed run, as its fan-out produced it: published in order */
  publish(runId: string, frame: SharedFrame): void;
  /** the claimed run is done (its `done` was published): release it */
  release(runId: string): void;
  /** resolves when every publish and release so far is done (shutdown) */
  settled(): Promise<void>;
}

/** Builds the mirror and routes the relay's frames to it. */
export function createRunMirror(deps: RunMirrorDeps): RunMirror {
  const { sharing, rooms, log } = deps;
  const replayingRooms = new Set<string>();
  const driven = new Map<string, { drive: SharedDrive; chain: Promise<unknown>; queue: SharedFrame[] }>();

  sharing.setHandlers({
    onFrame(roomId, frame) {
      const room = rooms.get(roomId);
      if (!room || driven.has(frame.run)) return; // our own run is delivered by its session
      const cur = room.current;
      switch (frame.type) {
        case 'run': {
          if (cur && !(cur instanceof RemoteRun)) return; // a local run holds the room (a stale frame)
          cur?.fanOut.close();
          room.last?.fanOut.close();
          room.last = null;
          const run = new RemoteRun(roomId, frame, sharing, deps.fanOut, log);
          room.current = run;
          if (!replayingRooms.has(roomId)) for (const m of room.members) run.attach(m, 0);
          return;
        }
        case 'done': {
          if (!(cur instanceof RemoteRun) || cur.id !== frame.run) return;
          cur.end(frame);
          room.current = null;
          room.last = cur;
          deps.onSettled(roomId);
          return;
        }
        default:
          if (cur instanceof RemoteRun && cur.id === frame.run) cur.push(frame);
      }
    },
    onTakenOver(roomId, done) {
      // this instance ended a vanished driver's run: its summary goes into the document from here
      const room = rooms.get(roomId);
      const run = [room?.last, room?.current].find((r): r is RemoteRun => r instanceof RemoteRun && r.id === done.run);
      if (!run) return;
      deps.port.appendRunSummary(roomId, run.summary(done)).catch((err: unknown) => {
        log.error({ err, room: roomId, run: done.run }, 'could not store the summary of an ended run');
      });
    },
  });

  return {
    opened(room) {
      replayingRooms.add(room.id);
      sharing
        .watch(room.id)
        .catch((err: unknown) => log.warn({ room: room.id, err: err instanceof Error ? err.message : String(err) }, 'watching runs failed'))
        .finally(() => {
          replayingRooms.delete(room.id);
          const run = room.current ?? room.last;
          if (run && rooms.get(room.id) === room) for (const m of room.members) run.attach(m, 0);
        });
    },
    dropped(roomId) {
      replayingRooms.delete(roomId);
      sharing.unwatch(roomId);
    },
    replaying: (roomId) => replayingRooms.has(roomId),
    async claim(roomId, run) {
      const drive = await sharing.drive(roomId, run.id, (input) => {
        if (input.frame.type === 'data') run.stdin(input.by, input.frame.data);
        else run.stop(input.frame.signal, input.by);
      });
      if (!drive) return false;
      driven.set(run.id, { drive, chain: Promise.resolve(), queue: [] });
      return true;
    },
    publish(runId, frame) {
      const d = driven.get(runId);
      if (!d) return;
      // One publish at a time, so the stream's order is the order every instance numbers them in;
      // frames produced while one is in flight go out together in the next (busy output).
      d.queue.push(frame);
      if (d.queue.length > 1) return; // a pump is scheduled and will take it
      d.chain = d.chain
        .then(async () => {
          while (d.queue.length > 0) await d.drive.sendAll(takeBatch(d.queue));
        })
        .catch((err: unknown) => {
          d.queue.length = 0;
          log.warn({ run: runId, err: err instanceof Error ? err.message : String(err) }, 'could not relay run frames');
        });
    },
    release(runId) {
      const d = driven.get(runId);
      if (!d) return;
      d.chain = d.chain
        .then(() => d.drive.end())
        .catch((err: unknown) => log.warn({ run: runId, err: err instanceof Error ? err.message : String(err) }, 'could not release the run lease'))
        .finally(() => driven.delete(runId));
    },
    async settled() {
      await Promise.all([...driven.values()].map((d) => d.chain));
    },
  };
}

/** Roughly this many bytes of output per relayed entry at most (one frame may exceed it alone). */
const BATCH_BYTES = 256 * 1024;

/** Takes frames from the head of `queue` up to about {@link BATCH_BYTES}. */
function takeBatch(queue: SharedFrame[]): SharedFrame[] {
  let bytes = 0;
  let n = 0;
  for (const f of queue) {
    bytes += 128 + (f.type === 'data' ? f.data.length : 0);
    if (n > 0 && bytes > BATCH_BYTES) break;
    n++;
  }
  return queue.splice(0, n);
}

/**
 * The shared execution channel's wire (`/api/exec/<roomId>`), one tagged union per direction.
 * CONTRACT.md "Shared execution" is the source of truth; docs/exec-protocol.md numbers its rules.
 */

/** Signals a participant may send to stop the running program. */
export const STOP_SIGNALS = ['SIGKILL', 'SIGINT', 'SIGTERM'] as const;
/** A signal a participant may send. */
export type StopSignal = (typeof STOP_SIGNALS)[number];

// ---------------------------------------------------------------- client → server

/** Start a run of the room's files as they are now. */
export interface RunRequest {
  type: 'run';
  language?: string;
  version?: string;
  args?: string[];
  stdin?: string;
}
/** Input for the running program. */
export interface StdinRequest {
  type: 'data';
  stream: 'stdin';
  data: string;
}
/** Stop the running program. */
export interface SignalRequest {
  type: 'signal';
  signal: StopSignal;
}
/** Every frame a participant may send. */
export type ClientFrame = RunRequest | StdinRequest | SignalRequest;

// ---------------------------------------------------------------- server → client

/** Fields every numbered frame of a run carries. */
export interface Numbered {
  run: string;
  seq: number;
}
/** A run began. */
export interface RunStarted {
  type: 'run';
  run: string;
  by: string;
  language: string;
  version: string;
}
/** Piston's `runtime` frame: the resolved runtime. */
export interface RuntimeFrame extends Numbered {
  type: 'runtime';
  language: string;
  version: string;
}
/** Piston's `stage` frame. */
export interface StageFrame extends Numbered {
  type: 'stage';
  stage: 'compile' | 'run';
}
/** Output of the program, or the echo of input a participant typed (`stream: 'stdin'`, with `by`). */
export interface DataFrame extends Numbered {
  type: 'data';
  stream: 'stdout' | 'stderr' | 'stdin';
  data: string;
  by?: string;
}
/** Piston's `exit` frame for one stage. */
export interface ExitFrame extends Numbered {
  type: 'exit';
  stage: 'compile' | 'run';
  code: number | null;
  signal: string | null;
}
/**
 * An error. Inside a run it is numbered like the others; an error that answers one participant's
 * refused request (viewer, second run, rate limit) has neither `run` nor `seq` and goes to that participant alone.
 */
export interface ErrorFrame {
  type: 'error';
  message: string;
  run?: string;
  seq?: number;
}
/** The run is over; its summary is appended to the document's `runs`. */
export interface DoneFrame {
  type: 'done';
  run: string;
  code: number | null;
  signal: string | null;
  status?: string | null;
  message?: string | null;
  wall_ms: number;
}
/**
 * Sent first to each participant on connect (an addition to the contract's frames): its role,
 * its display name, whether it may run/type/stop now, and the run it is about to receive, if any.
 * `canRun` reflects the room's `viewersCanRun` at connect time; the server checks again on each request.
 */
export interface HelloFrame {
  type: 'hello';
  role: 'owner' | 'editor' | 'viewer';
  name: string;
  canRun: boolean;
  /** id of the run being replayed next (current, or the last one whose frames are still kept), else null */
  run: string | null;
}
/**
 * Frames `from`..`to` (inclusive) of `run` were not delivered to this participant (an addition to the
 * contract's frames): it fell too far behind, or joined after they left the bounded replay buffer.
 * The frames after `to` follow as usual.
 */
export interface GapFrame {
  type: 'gap';
  run: string;
  from: number;
  to: number;
}
/** Every numbered frame. */
export type NumberedFrame = RuntimeFrame | StageFrame | DataFrame | ExitFrame | (ErrorFrame & Numbered);
/** Every frame the server sends. */
export type ServerFrame =
  | RunStarted
  | RuntimeFrame
  | StageFrame
  | DataFrame
  | ExitFrame
  | ErrorFrame
  | DoneFrame
  | HelloFrame
  | GapFrame;

// ---------------------------------------------------------------- parsing

/** Outcome of parsing a frame from the wire. */
export type Parsed<T> = { ok: true; frame: T } | { ok: false; error: string };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optionalString(o: Record<string, unknown>, key: string): string | undefined | Error {
  const v = o[key];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : new Error(`${key} must be a string`);
}

/** Parses a client frame from raw JSON text or an already-parsed value; never throws. */
export function parseClientFrame(input: unknown): Parsed<ClientFrame> {
  let value: unknown = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch {
      return { ok: false, error: 'frame is not valid JSON' };
    }
  }
  if (!isRecord(value)) return { ok: false, error: 'frame must be a JSON object' };
  switch (value.type) {
    case 'run': {
      const frame: RunRequest = { type: 'run' };
      for (const key of ['language', 'version', 'stdin'] as const) {
        const v = optionalString(value, key);
        if (v instanceof Error) return { ok: false, error: v.message };
        if (v !== undefined) frame[key] = v;
      }
      if (value.args !== undefined) {
        if (!Array.isArray(value.args) || !value.args.every((a) => typeof a === 'string')) {
          return { ok: false, error: 'args must be an array of strings' };
        }
        frame.args = value.args as string[];
      }
      return { ok: true, frame };
    }
    case 'data':
      if (value.stream !== 'stdin') return { ok: false, error: 'data frames may only write to stdin' };
      if (typeof value.data !== 'string') return { ok: false, error: 'data must be a string' };
      return { ok: true, frame: { type: 'data', stream: 'stdin', data: value.data } };
    case 'signal': {
      const signal = value.signal;
      if (typeof signal !== 'string' || !(STOP_SIGNALS as readonly string[]).includes(signal)) {
        return { ok: false, error: `signal must be one of ${STOP_SIGNALS.join(', ')}` };
      }
      return { ok: true, frame: { type: 'signal', signal: signal as StopSignal } };
    }
    default:
      return { ok: false, error: `unknown frame type ${JSON.stringify(value.type)}` };
  }
}

/** Parses a server frame (the client's side of the wire); checks the tag and the fields every handler reads. */
export function parseServerFrame(input: unknown): Parsed<ServerFrame> {
  let value: unknown = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch {
      return { ok: false, error: 'frame is not valid JSON' };
    }
  }
  if (!isRecord(value) || typeof value.type !== 'string') return { ok: false, error: 'frame must be an object with a type' };
  const t = value.type;
  const numbered = typeof value.run === 'string' && typeof value.seq === 'number';
  const ok = (): Parsed<ServerFrame> => ({ ok: true, frame: value as unknown as ServerFrame });
  switch (t) {
    case 'run':
      return typeof value.run === 'string' && typeof value.by === 'string' ? ok() : { ok: false, error: 'bad run frame' };
    case 'runtime':
    case 'stage':
    case 'exit':
      return numbered ? ok() : { ok: false, error: `bad ${t} frame` };
    case 'data':
      return numbered && typeof value.data === 'string' ? ok() : { ok: false, error: 'bad data frame' };
    case 'error':
      return typeof value.message === 'string' ? ok() : { ok: false, error: 'bad error frame' };
    case 'done':
      return typeof value.run === 'string' ? ok() : { ok: false, error: 'bad done frame' };
    case 'hello':
      return typeof value.role === 'string' && typeof value.canRun === 'boolean' ? ok() : { ok: false, error: 'bad hello frame' };
    case 'gap':
      return typeof value.run === 'string' && typeof value.from === 'number' && typeof value.to === 'number'
        ? ok()
        : { ok: false, error: 'bad gap frame' };
    default:
      return { ok: false, error: `unknown frame type ${JSON.stringify(t)}` };
  }
}

/**
 * The payloads of a room's exec stream entries (run-relay.ts): run frames stamped with the
 * fencing token of whoever wrote them, one frame per entry (`{token, frame}`) or several in order
 * (`{token, frames}`, busy output), and participants' input on its way to the driver (`{input}`).
 */
import { STOP_SIGNALS, type DoneFrame, type NumberedFrame, type RunStarted, type SignalRequest, type StdinRequest } from '@codex/shared';

/** The frames of one run, as they travel between instances. */
export type RelayedFrame = RunStarted | NumberedFrame | DoneFrame;

/** Input for a run from a participant on any instance, on its way to the driver. */
export interface RunInput {
  run: string;
  /** the participant's display name (for the stdin echo) */
  by: string;
  frame: StdinRequest | SignalRequest;
}

/** An exec stream entry's payload: the frame and the fencing token of whoever wrote it. */
export function encodeExecEntry(token: number, frame: RelayedFrame): Buffer {
  return Buffer.from(JSON.stringify({ token, frame }));
}

/** The entry's payload as a JSON object, or undefined for anything else. */
function readObject(data: Buffer): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/**
 * Frames are produced by our own instances (trusted peers): the shape check, `{type, run}` with
 * string values, guards against garbage, not against a hostile writer.
 */
function isRelayedFrame(f: unknown): f is RelayedFrame {
  if (typeof f !== 'object' || f === null) return false;
  const { type, run } = f as { type?: unknown; run?: unknown };
  return typeof type === 'string' && typeof run === 'string';
}

/** Parses an exec entry's payload; undefined if it is not `{token: number, frame: {type, run}}`. */
export function decodeExecEntry(data: Buffer): { token: number; frame: RelayedFrame } | undefined {
  const value = readObject(data);
  if (value === undefined || typeof value.token !== 'number' || !isRelayedFrame(value.frame)) return undefined;
  return { token: value.token, frame: value.frame };
}

/** Several frames of one writer, in order, as one entry's payload. */
export function encodeExecBatch(token: number, frames: readonly RelayedFrame[]): Buffer {
  return Buffer.from(JSON.stringify({ token, frames }));
}

/** Parses either form (`{token, frame}` or `{token, frames}`); undefined if any frame is not `{type, run}`. */
export function decodeExecFrames(data: Buffer): { token: number; frames: RelayedFrame[] } | undefined {
  const value = readObject(data);
  if (value === undefined || typeof value.token !== 'number') return undefined;
  if (isRelayedFrame(value.frame)) return { token: value.token, frames: [value.frame] };
  if (!Array.isArray(value.frames)) return undefined;
  const frames: unknown[] = value.frames;
  if (frames.length === 0 || !frames.every(isRelayedFrame)) return undefined;
  return { token: value.token, frames };
}

/** Parses a forwarded input entry (`{input: {run, by, frame}}`); undefined for anything else. */
export function decodeInputEntry(data: Buffer): RunInput | undefined {
  const input = readObject(data)?.input;
  if (typeof input !== 'object' || input === null) return undefined;
  const { run, by, frame } = input as { run?: unknown; by?: unknown; frame?: unknown };
  if (typeof run !== 'string' || typeof by !== 'string' || typeof frame !== 'object' || frame === null) return undefined;
  const f = frame as { type?: unknown; stream?: unknown; data?: unknown; signal?: unknown };
  const stdin = f.type === 'data' && f.stream === 'stdin' && typeof f.data === 'string';
  const signal = f.type === 'signal' && (STOP_SIGNALS as readonly unknown[]).includes(f.signal);
  if (!stdin && !signal) return undefined;
  return { run, by, frame: frame as RunInput['frame'] };
}

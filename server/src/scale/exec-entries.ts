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

/** Parses an exec entry's payload; undefined if it is not `{token: number, frame: {type, run}}`. */
export function decodeExecEntry(data: Buffer): { token: number; frame: RelayedFrame } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { token, frame } = value as { token?: unknown; frame?: unknown };
  if (typeof token !== 'number' || typeof frame !== 'object' || frame === null) return undefined;
  const { type, run } = frame as { type?: unknown; run?: unknown };
  if (typeof type !== 'string' || typeof run !== 'string') return undefined;
  // frames are produced by our own instances (trusted peers); the shape check guards against garbage
  return { token, frame: frame as RelayedFrame };
}

/** Several frames of one writer, in order, as one entry's payload. */
export function encodeExecBatch(token: number, frames: readonly RelayedFrame[]): Buffer {
  return Buffer.from(JSON.stringify({ token, frames }));
}

/** Parses either form (`{token, frame}` or `{token, frames}`); undefined if any frame is not `{type, run}`. */
export function decodeExecFrames(data: Buffer): { token: number; frames: RelayedFrame[] } | undefined {
  const single = decodeExecEntry(data);
  if (single) return { token: single.token, frames: [single.frame] };
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { token, frames } = value as { token?: unknown; frames?: unknown };
  if (typeof token !== 'number' || !Array.isArray(frames) || frames.length === 0) return undefined;
  const ok = frames.every((f: unknown) => {
    if (typeof f !== 'object' || f === null) return false;
    const { type, run } = f as { type?: unknown; run?: unknown };
    return typeof type === 'string' && typeof run === 'string';
  });
  // frames are produced by our own instances (trusted peers); the shape check guards against garbage
  return ok ? { token, frames: frames as RelayedFrame[] } : undefined;
}

/** Parses a forwarded input entry (`{input: {run, by, frame}}`); undefined for anything else. */
export function decodeInputEntry(data: Buffer): RunInput | undefined {
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || !('input' in value)) return undefined;
  const input: unknown = value.input;
  if (typeof input !== 'object' || input === null) return undefined;
  const { run, by, frame } = input as { run?: unknown; by?: unknown; frame?: unknown };
  if (typeof run !== 'string' || typeof by !== 'string' || typeof frame !== 'object' || frame === null) return undefined;
  const f = frame as { type?: unknown; stream?: unknown; data?: unknown; signal?: unknown };
  const stdin = f.type === 'data' && f.stream === 'stdin' && typeof f.data === 'string';
  const signal = f.type === 'signal' && (STOP_SIGNALS as readonly unknown[]).includes(f.signal);
  if (!stdin && !signal) return undefined;
  return { run, by, frame: frame as RunInput['frame'] };
}

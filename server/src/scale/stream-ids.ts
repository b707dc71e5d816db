/**
 * Redis stream entry ids (`<ms>-<seq>`): comparison, successor, and the fields of `XINFO STREAM`
 * the room bus needs to notice a gap. Kept apart so the arithmetic has its own unit tests.
 */

/** The id before every real entry: reading "after 0-0" reads a stream from its start. */
export const STREAM_START = '0-0';

/** Parses `ms-seq` (or a bare `ms`) into two bigints; throws on anything else. */
export function parseStreamId(id: string): [bigint, bigint] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(id);
  if (!m || m[1] === undefined) throw new Error(`not a stream id: ${JSON.stringify(id)}`);
  return [BigInt(m[1]), BigInt(m[2] ?? '0')];
}

/** Negative, zero or positive as `a` sorts before, with or after `b` in a stream. */
export function compareStreamIds(a: string, b: string): number {
  const [am, as] = parseStreamId(a);
  const [bm, bs] = parseStreamId(b);
  if (am !== bm) return am < bm ? -1 : 1;
  if (as !== bs) return as < bs ? -1 : 1;
  return 0;
}

/** The smallest id after `id`: `XTRIM MINID next(id)` removes `id` itself and all before it. */
export function nextStreamId(id: string): string {
  const [ms, seq] = parseStreamId(id);
  return `${ms}-${seq + 1n}`;
}

/** What the bus reads from `XINFO STREAM`. */
export interface StreamInfo {
  length: number;
  lastId: string;
  /** the first entry still held (`0-0` if empty) */
  firstId: string;
}

/** Reads the flat `[name, value, …]` reply of `XINFO STREAM`. */
export function parseStreamInfo(reply: unknown): StreamInfo {
  if (!Array.isArray(reply)) throw new Error('XINFO STREAM: unexpected reply');
  const fields = new Map<string, unknown>();
  for (let i = 0; i + 1 < reply.length; i += 2) {
    const name: unknown = reply[i];
    fields.set(Buffer.isBuffer(name) ? name.toString() : String(name), reply[i + 1]);
  }
  const text = (name: string, fallback: string): string => {
    const v = fields.get(name);
    if (v === undefined || v === null) return fallback;
    return Buffer.isBuffer(v) ? v.toString() : String(v);
  };
  return {
    length: Number(text('length', '0')),
    lastId: text('last-generated-id', STREAM_START),
    firstId: firstEntryId(fields.get('first-entry')),
  };
}

/** `first-entry` is `[id, fields]` or nil. */
function firstEntryId(entry: unknown): string {
  if (!Array.isArray(entry) || entry.length === 0) return STREAM_START;
  const id: unknown = entry[0];
  return Buffer.isBuffer(id) ? id.toString() : String(id);
}

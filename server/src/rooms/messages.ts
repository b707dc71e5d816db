/**
 * The y-websocket wire format (y-protocols): encoders for what the server sends and a decoder
 * that turns one incoming frame into a typed message, throwing on anything malformed.
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';

/** Top-level message types of the y-websocket protocol (2, auth, is server-to-client only). */
export const MESSAGE = { sync: 0, awareness: 1, auth: 2, queryAwareness: 3 } as const;
/** Sync sub-types (y-protocols/sync). */
export const SYNC = { step1: 0, step2: 1, update: 2 } as const;

/** One decoded client message. */
export type ClientMessage =
  | { type: 'sync-step1'; stateVector: Uint8Array }
  | { type: 'sync-step2'; update: Uint8Array }
  | { type: 'sync-update'; update: Uint8Array }
  | { type: 'awareness'; update: Uint8Array }
  | { type: 'query-awareness' };

/** Why a frame was refused: `protocol` for a valid encoding of something we do not speak. */
export class BadMessage extends Error {
  constructor(
    readonly kind: 'malformed' | 'protocol',
    message: string,
  ) {
    super(message);
    this.name = 'BadMessage';
  }
}

function endOf(d: decoding.Decoder): void {
  if (decoding.hasContent(d)) throw new BadMessage('malformed', 'trailing bytes after message');
}

/** Decodes one frame; throws BadMessage (or a lib0 decoding error) for anything else. */
export function decodeClientMessage(frame: Uint8Array): ClientMessage {
  const d = decoding.createDecoder(frame);
  const type = decoding.readVarUint(d);
  switch (type) {
    case MESSAGE.sync: {
      const sub = decoding.readVarUint(d);
      const payload = decoding.readVarUint8Array(d);
      endOf(d);
      if (sub === SYNC.step1) return { type: 'sync-step1', stateVector: payload };
      if (sub === SYNC.step2) return { type: 'sync-step2', update: payload };
      if (sub === SYNC.update) return { type: 'sync-update', update: payload };
      throw new BadMessage('protocol', `unknown sync message type ${sub}`);
    }
    case MESSAGE.awareness: {
      const update = decoding.readVarUint8Array(d);
      endOf(d);
      return { type: 'awareness', update };
    }
    case MESSAGE.queryAwareness:
      endOf(d);
      return { type: 'query-awareness' };
    default:
      throw new BadMessage('protocol', `unknown message type ${type}`);
  }
}

/**
 * Checks that an awareness update parses completely (ids, clocks, JSON states) before it is
 * applied, so a bad one cannot be half-applied.
 */
export function validateAwarenessUpdate(update: Uint8Array): void {
  const d = decoding.createDecoder(update);
  const n = decoding.readVarUint(d);
  for (let i = 0; i < n; i++) {
    decoding.readVarUint(d);
    decoding.readVarUint(d);
    JSON.parse(decoding.readVarString(d));
  }
  endOf(d);
}

function syncMessage(sub: number, payload: Uint8Array): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, MESSAGE.sync);
  encoding.writeVarUint(e, sub);
  encoding.writeVarUint8Array(e, payload);
  return encoding.toUint8Array(e);
}

/** `sync step 1`: our state vector. */
export function encodeSyncStep1(stateVector: Uint8Array): Uint8Array {
  return syncMessage(SYNC.step1, stateVector);
}

/** `sync step 2`: what the peer lacks. */
export function encodeSyncStep2(update: Uint8Array): Uint8Array {
  return syncMessage(SYNC.step2, update);
}

/** An incremental document update. */
export function encodeUpdateMessage(update: Uint8Array): Uint8Array {
  return syncMessage(SYNC.update, update);
}

/** An awareness update. */
export function encodeAwarenessMessage(update: Uint8Array): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, MESSAGE.awareness);
  encoding.writeVarUint8Array(e, update);
  return encoding.toUint8Array(e);
}

/**
 * An update holding only a delete set: `ranges` are [client, clock, length] of items to delete.
 * Used to take back a viewer's local insertions, which the server never accepted.
 */
export function encodeDeleteOnlyUpdate(ranges: ReadonlyMap<number, ReadonlyArray<readonly [number, number]>>): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, 0); // no structs (update format v1)
  encoding.writeVarUint(e, ranges.size);
  for (const [client, list] of ranges) {
    encoding.writeVarUint(e, client);
    encoding.writeVarUint(e, list.length);
    for (const [clock, len] of list) {
      encoding.writeVarUint(e, clock);
      encoding.writeVarUint(e, len);
    }
  }
  return encoding.toUint8Array(e);
}

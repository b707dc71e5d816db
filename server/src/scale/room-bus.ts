/**
 * The room bus's vocabulary: what a room's stream carries, its keys and entry format, what a
 * listener receives, and the bus interface. The implementation is redis-room-bus.ts.
 */
import type { RedisOptions } from 'ioredis';
import type { Logger } from '../log.js';
import type { StreamInfo } from './stream-ids.js';

/** What a room's stream carries: Yjs updates and awareness on `y`, run frames (JSON) on `exec`. */
export type RoomBusKind = 'update' | 'awareness' | 'exec';

/** A room's streams: the document's, and the shared run's (see run-relay.ts). */
export type RoomChannel = 'y' | 'exec';

/** One field value per kind on the wire; one letter keeps entries small. */
export const KIND_CODES = { update: 'u', awareness: 'a', exec: 'x' } as const satisfies Record<RoomBusKind, string>;
const KIND_BY_CODE = new Map<string, RoomBusKind>(
  Object.entries(KIND_CODES).map(([kind, code]) => [code, kind as RoomBusKind]),
);

/** A message read from another instance. */
export interface RoomBusMessage {
  room: string;
  kind: RoomBusKind;
  /** the instance id of the publisher */
  origin: string;
  /** the y-protocols payload, byte for byte */
  data: Buffer;
  /** the stream entry id: the position storage records as "stored through" */
  id: string;
}

/** Why the caller must reload a room from storage. */
export type ResyncReason =
  /** entries after our last seen id were trimmed before we read them */
  | 'trimmed'
  /** Redis restarted (new run id) or the stream vanished: whatever it held may be lost */
  | 'redis-restarted';

/** Receives what the bus reads. Exceptions thrown here are logged and do not stop the bus. */
export interface RoomBusListener {
  message(msg: RoomBusMessage): void;
  /** reload `room` from storage, then publish the replica's full state so peers get what Redis lost */
  resync(room: string, reason: ResyncReason): void;
}

/** Options of `createRedisRoomBus`. */
export interface RedisRoomBusOptions {
  redisUrl: string;
  listener: RoomBusListener;
  /** which stream of each room this bus reads and writes; default `y` */
  channel?: RoomChannel;
  /** this instance's id; own messages are skipped. Default: a random UUID */
  instanceId?: string;
  /** safety cap per stream (exact, in the publish script); normal trimming is {@link RedisRoomBus.trimStored} */
  maxLen?: number;
  /** trimStored never removes entries younger than this (Redis clock), so live readers are never trimmed past */
  trimGraceMs?: number;
  /** entries per stream per read */
  batch?: number;
  /** the blocking read's timeout: only a backstop, joins interrupt it */
  blockMs?: number;
  log?: Logger;
  /** extra ioredis options (tests) */
  redisOptions?: RedisOptions;
}

/**
 * The Redis key of a room's stream. The braces are a Redis Cluster hash tag: every key of one
 * room (stream, trimmed marker, leases) lands in one slot, so scripts may touch several.
 */
export function roomStreamKey(room: string, channel: RoomChannel = 'y'): string {
  return `codex:room:{${room}}:${channel}`;
}

/** The key holding the highest id ever trimmed from the room's stream (see bus-scripts.ts). */
export function roomTrimmedKey(room: string, channel: RoomChannel = 'y'): string {
  return `codex:room:{${room}}:${channel}:trimmed`;
}

/** A running bus; see the module comment. */
export interface RedisRoomBus {
  readonly instanceId: string;
  /** appends a message to the room's stream; resolves to its entry id */
  publish(room: string, kind: RoomBusKind, data: Uint8Array): Promise<string>;
  /**
   * Starts reading `room`: after `from` if given (e.g. the id storage was loaded through), else after
   * the stream's current end. Resolves to the id reading starts after. Joining twice is a no-op.
   */
  join(room: string, from?: string): Promise<string>;
  /** stops reading `room` (the replica was dropped: no peers left here) */
  leave(room: string): void;
  /** rooms being read */
  rooms(): string[];
  /** the last id read (or skipped as our own) in `room`, undefined if not joined */
  lastId(room: string): string | undefined;
  /** "trim once stored": drops entries up to and including `storedId`, none younger than trimGraceMs */
  trimStored(room: string, storedId: string): Promise<number>;
  /** stream facts (tests, metrics); undefined if the stream does not exist */
  info(room: string): Promise<StreamInfo | undefined>;
  /** stops reading and closes both connections; idempotent */
  close(): Promise<void>;
}

/** Decodes one entry's `[k, v, k, v…]` fields; undefined if a field is missing or unknown. */
export function decodeEntry(room: string, id: string, fields: Buffer[]): RoomBusMessage | undefined {
  let kind: RoomBusKind | undefined;
  let origin: string | undefined;
  let data: Buffer | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]?.toString();
    const value = fields[i + 1];
    if (value === undefined) break;
    if (name === 'k') kind = KIND_BY_CODE.get(value.toString());
    else if (name === 'o') origin = value.toString();
    else if (name === 'd') data = value;
  }
  if (kind === undefined || origin === undefined || data === undefined) return undefined;
  return { room, kind, origin, data, id };
}

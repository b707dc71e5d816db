/**
 * The shared store: the rooms helper's {@link RoomStore} on PostgreSQL, so every instance loads a
 * room the same way. Same tables and meaning as the SQLite store (one global update sequence,
 * compaction replaces a prefix by one state), plus what several writers need:
 *
 * - the schema is created on start under an advisory lock (instances starting together do not
 *   race on `CREATE TABLE IF NOT EXISTS`, which is not atomic in PostgreSQL);
 * - {@link PostgresRoomStore.compactFenced}: compaction checked against a fencing token from the
 *   Redis lease (lease.ts), so a holder that paused past its lease cannot overwrite newer work;
 * - {@link PostgresRoomStore.markStreamStored}: how far into the room's Redis stream storage
 *   holds, the position the bus may trim to ("trim once stored").
 */
import pg from 'pg';
import type { PendingUpdate, RoomRecord, RoomStore, StoredHistory } from '../rooms/store/store.js';
import { compareStreamIds, parseStreamId } from './stream-ids.js';

/** Thrown by fenced writes whose token is older than one already used for the same resource. */
export class FencedOutError extends Error {
  constructor(
    readonly resource: string,
    readonly token: number,
    readonly current: number,
  ) {
    super(`fenced out: token ${token} for ${resource} is older than ${current}`);
    this.name = 'FencedOutError';
  }
}

/** A lease's fencing token and the resource it guards (e.g. `compact:<roomId>`). */
export interface Fence {
  resource: string;
  token: number;
}

/** The RoomStore plus what several instances sharing it need. */
export interface PostgresRoomStore extends RoomStore {
  /** {@link RoomStore.compact}, refused with {@link FencedOutError} if a newer token already wrote */
  compactFenced(roomId: string, state: Uint8Array, uptoSeq: number, fence: Fence): Promise<number>;
  /** records that storage holds the room's stream through `streamId` (never moves backwards) */
  markStreamStored(roomId: string, streamId: string): Promise<void>;
  /** the stream id storage holds the room through, undefined if never marked */
  streamStored(roomId: string): Promise<string | undefined>;
}

/** Options of {@link openPostgresStore}. */
export interface PostgresStoreOptions {
  /** `postgres://…` (config.databaseUrl) */
  connectionString: string;
  /** pool size per instance */
  maxConnections?: number;
  /** how long `check()` waits for an answer before calling storage unready */
  checkTimeoutMs?: number;
}

/** Any constant: the advisory lock key that serialises schema creation across instances. */
const SCHEMA_LOCK = 7_410_215_001;

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS codex_rooms (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    created_at TEXT NOT NULL,
    owner_hash BYTEA NOT NULL,
    editor_hash BYTEA NOT NULL,
    viewer_hash BYTEA NOT NULL,
    stream_stored_id TEXT
  );
  CREATE TABLE IF NOT EXISTS codex_updates (
    seq BIGSERIAL PRIMARY KEY,
    room_id TEXT NOT NULL REFERENCES codex_rooms(id),
    data BYTEA NOT NULL
  );
  CREATE INDEX IF NOT EXISTS codex_updates_by_room ON codex_updates(room_id, seq);
  CREATE TABLE IF NOT EXISTS codex_fences (
    resource TEXT PRIMARY KEY,
    token BIGINT NOT NULL
  );
`;

interface RoomRow {
  id: string;
  name: string;
  language: string;
  created_at: string;
  owner_hash: Buffer;
  editor_hash: Buffer;
  viewer_hash: Buffer;
}

/** Connects a pool, creates the schema if missing, and returns the store. */
export async function openPostgresStore(opts: PostgresStoreOptions): Promise<PostgresRoomStore> {
  const pool = new pg.Pool({ connectionString: opts.connectionString, max: opts.maxConnections ?? 10 });
  // an idle client losing its server (PostgreSQL restarted) must not crash the process
  pool.on('error', () => undefined);
  const checkTimeoutMs = opts.checkTimeoutMs ?? 2_000;

  /** Runs `fn` in a transaction on one pooled client. */
  const tx = async <T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  };

  try {
    await tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
      await c.query(SCHEMA);
    });
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }

  /** Deletes the prefix and inserts the state: shared by both compactions. */
  const compactIn = async (c: pg.PoolClient, roomId: string, state: Uint8Array, uptoSeq: number): Promise<number> => {
    await c.query('DELETE FROM codex_updates WHERE room_id = $1 AND seq <= $2', [roomId, uptoSeq]);
    const res = await c.query<{ seq: string }>(
      'INSERT INTO codex_updates (room_id, data) VALUES ($1, $2) RETURNING seq',
      [roomId, toBuffer(state)],
    );
    return Number(res.rows[0]?.seq);
  };

  let closing: Promise<void> | undefined;

  return {
    async createRoom(room: RoomRecord, state: Uint8Array) {
      const h = room.tokenHashes;
      await tx(async (c) => {
        await c.query(
          `INSERT INTO codex_rooms (id, name, language, created_at, owner_hash, editor_hash, viewer_hash)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [room.id, room.name, room.language, room.createdAt, toBuffer(h.owner), toBuffer(h.editor), toBuffer(h.viewer)],
        );
        await c.query('INSERT INTO codex_updates (room_id, data) VALUES ($1, $2)', [room.id, toBuffer(state)]);
      });
    },

    async getRoom(id) {
      const res = await pool.query<RoomRow>(
        'SELECT id, name, language, created_at, owner_hash, editor_hash, viewer_hash FROM codex_rooms WHERE id = $1',
        [id],
      );
      const row = res.rows[0];
      if (!row) return undefined;
      return {
        id: row.id,
        name: row.name,
        language: row.language,
        createdAt: row.created_at,
        tokenHashes: { owner: row.owner_hash, editor: row.editor_hash, viewer: row.viewer_hash },
      };
    },

    async loadHistory(id): Promise<StoredHistory> {
      const res = await pool.query<{ seq: string; data: Buffer }>(
        'SELECT seq, data FROM codex_updates WHERE room_id = $1 ORDER BY seq',
        [id],
      );
      const updates: Uint8Array[] = [];
      let lastSeq = 0;
      let bytes = 0;
      for (const row of res.rows) {
        updates.push(row.data);
        lastSeq = Number(row.seq);
        bytes += row.data.length;
      }
      return { updates, lastSeq, bytes };
    },

    async appendUpdates(batch: readonly PendingUpdate[]) {
      const last = new Map<string, number>();
      if (batch.length === 0) return last;
      // one statement, one round trip; WITH ORDINALITY + ORDER BY keeps the batch's order in seq
      const res = await pool.query<{ room_id: string; seq: string }>(
        `INSERT INTO codex_updates (room_id, data)
         SELECT room_id, data FROM unnest($1::text[], $2::bytea[]) WITH ORDINALITY AS b(room_id, data, n) ORDER BY n
         RETURNING room_id, seq`,
        [batch.map((u) => u.roomId), batch.map((u) => toBuffer(u.update))],
      );
      for (const row of res.rows) {
        const seq = Number(row.seq);
        if (seq > (last.get(row.room_id) ?? 0)) last.set(row.room_id, seq);
      }
      return last;
    },

    compact(roomId, state, uptoSeq) {
      return tx((c) => compactIn(c, roomId, state, uptoSeq));
    },

    compactFenced(roomId, state, uptoSeq, fence) {
      return tx(async (c) => {
        // the row lock taken here serialises fenced writers of one resource until commit
        const res = await c.query<{ token: string }>(
          `INSERT INTO codex_fences (resource, token) VALUES ($1, $2)
           ON CONFLICT (resource) DO UPDATE SET token = EXCLUDED.token WHERE codex_fences.token <= EXCLUDED.token
           RETURNING token`,
          [fence.resource, fence.token],
        );
        if (res.rowCount === 0) {
          const cur = await c.query<{ token: string }>('SELECT token FROM codex_fences WHERE resource = $1', [fence.resource]);
          throw new FencedOutError(fence.resource, fence.token, Number(cur.rows[0]?.token ?? 0));
        }
        return compactIn(c, roomId, state, uptoSeq);
      });
    },

    async markStreamStored(roomId, streamId) {
      parseStreamId(streamId); // throws on a malformed id before anything is written
      await tx(async (c) => {
        const cur = await c.query<{ stream_stored_id: string | null }>(
          'SELECT stream_stored_id FROM codex_rooms WHERE id = $1 FOR UPDATE',
          [roomId],
        );
        const row = cur.rows[0];
        if (!row) throw new Error(`unknown room ${roomId}`);
        if (row.stream_stored_id !== null && compareStreamIds(row.stream_stored_id, streamId) >= 0) return;
        await c.query('UPDATE codex_rooms SET stream_stored_id = $2 WHERE id = $1', [roomId, streamId]);
      });
    },

    async streamStored(roomId) {
      const res = await pool.query<{ stream_stored_id: string | null }>(
        'SELECT stream_stored_id FROM codex_rooms WHERE id = $1',
        [roomId],
      );
      return res.rows[0]?.stream_stored_id ?? undefined;
    },

    async check() {
      if (closing) return 'storage closed';
      let timer: NodeJS.Timeout | undefined;
      try {
        const timeout = new Promise<string>((resolve) => {
          timer = setTimeout(() => resolve(`PostgreSQL did not answer within ${checkTimeoutMs} ms`), checkTimeoutMs);
        });
        return await Promise.race([pool.query('SELECT 1').then(() => null), timeout]);
      } catch (err) {
        return `PostgreSQL: ${err instanceof Error ? err.message : String(err)}`;
      } finally {
        clearTimeout(timer);
      }
    },

    async stats(roomId) {
      const res = await pool.query<{ n: string; bytes: string | null }>(
        'SELECT count(*) AS n, sum(octet_length(data)) AS bytes FROM codex_updates WHERE room_id = $1',
        [roomId],
      );
      const row = res.rows[0];
      return { updates: Number(row?.n ?? 0), bytes: Number(row?.bytes ?? 0) };
    },

    close() {
      closing ??= pool.end();
      return closing;
    },
  };
}

/** A Buffer view of the bytes (pg sends Buffers as bytea; no copy). */
function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

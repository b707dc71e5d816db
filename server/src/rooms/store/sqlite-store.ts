/**
 * The embedded store: one SQLite file (better-sqlite3) in WAL mode with synchronous=NORMAL.
 * A committed transaction is in the WAL file when the call returns, so a crash of this process
 * (even SIGKILL) loses nothing committed; only a power loss or OS crash may drop the last few
 * transactions (FULL would fsync each one; our batches make that affordable, see docs/sync.md).
 */
import Database from 'better-sqlite3';
import path from 'node:path';
import type { RoomRecord, RoomStore, PendingUpdate, StoredHistory } from './store.js';

interface RoomRow {
  id: string;
  name: string;
  language: string;
  created_at: string;
  owner_hash: Buffer;
  editor_hash: Buffer;
  viewer_hash: Buffer;
}

/** Options of the SQLite store. */
export interface SqliteStoreOptions {
  /** directory holding `rooms.sqlite` */
  dataDir: string;
  /** `FULL` fsyncs every batch (survives power loss); default `NORMAL` (survives process crashes) */
  synchronous?: 'NORMAL' | 'FULL';
}

/** Opens (creating if needed) the store in `dataDir`. */
export function openSqliteStore(opts: SqliteStoreOptions): RoomStore {
  const db = new Database(path.join(opts.dataDir, 'rooms.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${opts.synchronous ?? 'NORMAL'}`);
  db.pragma('busy_timeout = 5000');
  db.exec(`
    CREATE TABLE IF NOT EXISTS rooms (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      language TEXT NOT NULL,
      created_at TEXT NOT NULL,
      owner_hash BLOB NOT NULL,
      editor_hash BLOB NOT NULL,
      viewer_hash BLOB NOT NULL
    ) STRICT;
    CREATE TABLE IF NOT EXISTS updates (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      room_id TEXT NOT NULL REFERENCES rooms(id),
      data BLOB NOT NULL
    ) STRICT;
    CREATE INDEX IF NOT EXISTS updates_by_room ON updates(room_id, seq);
  `);
  const insertRoom = db.prepare(
    'INSERT INTO rooms (id, name, language, created_at, owner_hash, editor_hash, viewer_hash) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const selectRoom = db.prepare<[string], RoomRow>('SELECT * FROM rooms WHERE id = ?');
  const insertUpdate = db.prepare<[string, Uint8Array]>('INSERT INTO updates (room_id, data) VALUES (?, ?)');
  const selectUpdates = db.prepare<[string], { seq: number; data: Buffer }>('SELECT seq, data FROM updates WHERE room_id = ? ORDER BY seq');
  const deleteUpTo = db.prepare<[string, number]>('DELETE FROM updates WHERE room_id = ? AND seq <= ?');
  const statsOf = db.prepare<[string], { n: number; bytes: number | null }>(
    'SELECT count(*) AS n, sum(length(data)) AS bytes FROM updates WHERE room_id = ?',
  );

  const createTx = db.transaction((room: RoomRecord, state: Uint8Array) => {
    const h = room.tokenHashes;
    insertRoom.run(room.id, room.name, room.language, room.createdAt, h.owner, h.editor, h.viewer);
    insertUpdate.run(room.id, state);
  });
  const appendTx = db.transaction((batch: readonly PendingUpdate[]) => {
    const last = new Map<string, number>();
    for (const u of batch) last.set(u.roomId, Number(insertUpdate.run(u.roomId, u.update).lastInsertRowid));
    return last;
  });
  const compactTx = db.transaction((roomId: string, state: Uint8Array, uptoSeq: number): number => {
    deleteUpTo.run(roomId, uptoSeq);
    return Number(insertUpdate.run(roomId, state).lastInsertRowid);
  });
  let closed = false;

  return {
    async createRoom(room, state) {
      createTx(room, state);
    },
    async getRoom(id) {
      const row = selectRoom.get(id);
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
      const updates: Uint8Array[] = [];
      let lastSeq = 0;
      let bytes = 0;
      for (const row of selectUpdates.iterate(id)) {
        updates.push(row.data);
        lastSeq = row.seq;
        bytes += row.data.length;
      }
      return { updates, lastSeq, bytes };
    },
    async appendUpdates(batch) {
      return batch.length > 0 ? appendTx(batch) : new Map<string, number>();
    },
    async compact(roomId, state, uptoSeq) {
      return compactTx(roomId, state, uptoSeq);
    },
    async check() {
      if (closed) return 'storage closed';
      db.prepare('SELECT 1').get();
      return null;
    },
    async stats(roomId) {
      const r = statsOf.get(roomId);
      return { updates: r?.n ?? 0, bytes: r?.bytes ?? 0 };
    },
    async close() {
      if (closed) return;
      closed = true;
      // Fold the WAL back into the main file so the data directory is one self-contained file.
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.close();
    },
  };
}

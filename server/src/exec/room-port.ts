/**
 * The small port server.ts hands the exec channel, so `exec/` never imports `rooms/`: check a
 * token, read what a run needs from the room document, append a run summary. The adapter below
 * builds it from anything shaped like the rooms registry (`authorize` + `withDoc`).
 */
import type * as Y from 'yjs';
import { DOC_KEYS, FILE_KEYS, ROOM_KEYS, type Role, type RunSummary } from '@codex/shared';

/** A file as sent to Piston: entry file first. */
export interface RunFile {
  name: string;
  content: string;
}

/** What a run takes from the room document, read at the moment the run starts. */
export interface RunInput {
  language: string;
  /** the room's version, `*` when unset */
  version: string;
  files: RunFile[];
  /** total UTF-8 bytes of the files' contents */
  bytes: number;
}

/** What the exec channel needs from the rooms. */
export interface RoomPort {
  /** the token's role in the room, or why not */
  authorize(roomId: string, token: string): Promise<Role | 'not-found' | 'forbidden'>;
  /** the files, language and version as everyone sees them now */
  readRunInput(roomId: string): Promise<RunInput>;
  /** true when the owner lets viewers run and type input */
  viewersCanRun(roomId: string): Promise<boolean>;
  /** appends a finished run's summary to the document's `runs` (kept to the newest `MAX_RUNS_KEPT`) */
  appendRunSummary(roomId: string, summary: RunSummary): Promise<void>;
}

/** The part of the rooms registry the adapter uses. */
export interface RoomsLike {
  authorize(roomId: string, token: string): Promise<Role | 'not-found' | 'forbidden'>;
  withDoc<T>(roomId: string, fn: (doc: Y.Doc) => T | Promise<T>): Promise<T>;
}

/** Older summaries are dropped past this many, so the document cannot grow without end. */
export const MAX_RUNS_KEPT = 200;

/** Reads the run input from a live document: entry file first, then the others by name. */
export function readRunInputFromDoc(doc: Y.Doc): RunInput {
  const room = doc.getMap(DOC_KEYS.room);
  const files = doc.getMap<unknown>(DOC_KEYS.files);
  const entry = room.get(ROOM_KEYS.entry);
  const list: (RunFile & { id: string })[] = [];
  files.forEach((value, id) => {
    const m = value as { get?: (k: string) => unknown } | null;
    if (!m || typeof m.get !== 'function') return;
    const name = m.get(FILE_KEYS.name);
    const text = m.get(FILE_KEYS.text);
    if (typeof name !== 'string') return;
    list.push({ id, name, content: text === undefined || text === null ? '' : String(text) });
  });
  list.sort((a, b) => (a.id === entry ? -1 : b.id === entry ? 1 : a.name.localeCompare(b.name)));
  const language = room.get(ROOM_KEYS.language);
  const version = room.get(ROOM_KEYS.version);
  return {
    language: typeof language === 'string' ? language : '',
    version: typeof version === 'string' && version !== '' ? version : '*',
    files: list.map(({ name, content }) => ({ name, content })),
    bytes: list.reduce((n, f) => n + Buffer.byteLength(f.content), 0),
  };
}

/** Builds the port from the rooms registry. */
export function roomPortFromRegistry(rooms: RoomsLike): RoomPort {
  return {
    authorize: (roomId, token) => rooms.authorize(roomId, token),
    readRunInput: (roomId) => rooms.withDoc(roomId, readRunInputFromDoc),
    viewersCanRun: (roomId) => rooms.withDoc(roomId, (doc) => doc.getMap(DOC_KEYS.room).get(ROOM_KEYS.viewersCanRun) === true),
    appendRunSummary: (roomId, summary) =>
      rooms.withDoc(roomId, (doc) => {
        doc.transact(() => {
          const runs = doc.getArray<RunSummary>(DOC_KEYS.runs);
          runs.push([summary]);
          if (runs.length > MAX_RUNS_KEPT) runs.delete(0, runs.length - MAX_RUNS_KEPT);
        });
      }),
  };
}

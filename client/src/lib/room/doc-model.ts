/**
 * The room document as the UI sees it (CONTRACT.md "Document sync"): files as tabs, room settings,
 * run history. Reads are snapshots for rendering; writes are small transactions on the shared types.
 */
import * as Y from 'yjs';
import { DOC_KEYS, FILE_KEYS, LIMITS, ROOM_KEYS } from '@codex/shared';
import type { RunSummary } from '@codex/shared';

/** One file tab. */
export interface FileEntry {
  id: string;
  name: string;
}

/** The room map's settings, with safe defaults for keys not set yet. */
export interface RoomSettings {
  name: string;
  language: string;
  version: string;
  entry: string | null;
  viewersCanRun: boolean;
}

/** The shared types of a room document. */
export function docParts(doc: Y.Doc): { files: Y.Map<Y.Map<unknown>>; room: Y.Map<unknown>; runs: Y.Array<unknown> } {
  return { files: doc.getMap<Y.Map<unknown>>(DOC_KEYS.files), room: doc.getMap<unknown>(DOC_KEYS.room), runs: doc.getArray<unknown>(DOC_KEYS.runs) };
}

/** The files, sorted by name so every participant sees the same tab order. */
export function listFiles(doc: Y.Doc): FileEntry[] {
  const out: FileEntry[] = [];
  docParts(doc).files.forEach((f, id) => {
    if (!(f instanceof Y.Map)) return;
    const name = f.get(FILE_KEYS.name);
    out.push({ id, name: typeof name === 'string' ? name : id });
  });
  return out.sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
}

/** A file's shared text, or null if the file is gone. */
export function fileText(doc: Y.Doc, id: string): Y.Text | null {
  const f = docParts(doc).files.get(id);
  const t = f instanceof Y.Map ? f.get(FILE_KEYS.text) : undefined;
  return t instanceof Y.Text ? t : null;
}

/** Reads the room settings. */
export function readSettings(doc: Y.Doc): RoomSettings {
  const room = docParts(doc).room;
  const s = (k: string): string => {
    const v = room.get(k);
    return typeof v === 'string' ? v : '';
  };
  const entry = room.get(ROOM_KEYS.entry);
  return {
    name: s(ROOM_KEYS.name),
    language: s(ROOM_KEYS.language),
    version: s(ROOM_KEYS.version),
    entry: typeof entry === 'string' ? entry : null,
    viewersCanRun: room.get(ROOM_KEYS.viewersCanRun) === true,
  };
}

/** Changes one room setting. */
export function setSetting(doc: Y.Doc, key: (typeof ROOM_KEYS)[keyof typeof ROOM_KEYS], value: string | boolean): void {
  docParts(doc).room.set(key, value);
}

/** Why a file name is refused, or null when it is fine. */
export function fileNameProblem(doc: Y.Doc, name: string, exceptId?: string): string | null {
  const n = name.trim();
  if (!n) return 'A file needs a name.';
  if (n.length > LIMITS.fileName) return `File names are at most ${LIMITS.fileName} characters.`;
  if (n.startsWith('/') || n.split('/').some((p) => p === '..' || p === '.' || p === '')) return 'Use a relative path such as util.py or lib/util.py.';
  if (listFiles(doc).some((f) => f.name === n && f.id !== exceptId)) return `There is already a file named ${n}.`;
  return null;
}

function newFileId(): string {
  const bytes = new Uint8Array(9);
  crypto.getRandomValues(bytes);
  return 'f' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Adds a file (throws with a readable message on a bad name); the first file becomes the entry. */
export function addFile(doc: Y.Doc, name: string, text = ''): string {
  const problem = fileNameProblem(doc, name);
  if (problem) throw new Error(problem);
  const id = newFileId();
  doc.transact(() => {
    const f = new Y.Map<unknown>();
    f.set(FILE_KEYS.name, name.trim());
    f.set(FILE_KEYS.text, new Y.Text(text));
    docParts(doc).files.set(id, f);
    if (readSettings(doc).entry === null || fileText(doc, readSettings(doc).entry ?? '') === null) setSetting(doc, ROOM_KEYS.entry, id);
  });
  return id;
}

/** Renames a file (throws with a readable message on a bad name). */
export function renameFile(doc: Y.Doc, id: string, name: string): void {
  const problem = fileNameProblem(doc, name, id);
  if (problem) throw new Error(problem);
  const f = docParts(doc).files.get(id);
  if (!(f instanceof Y.Map)) throw new Error('That file no longer exists.');
  f.set(FILE_KEYS.name, name.trim());
}

/** Deletes a file; the last file cannot go, and the entry moves to another file if it was this one. */
export function deleteFile(doc: Y.Doc, id: string): void {
  const files = listFiles(doc);
  if (files.length <= 1) throw new Error('A room keeps at least one file.');
  doc.transact(() => {
    docParts(doc).files.delete(id);
    if (readSettings(doc).entry === id) {
      const next = files.find((f) => f.id !== id);
      if (next) setSetting(doc, ROOM_KEYS.entry, next.id);
    }
  });
}

/** Makes a file the one that runs first. */
export function setEntry(doc: Y.Doc, id: string): void {
  if (!fileText(doc, id)) throw new Error('That file no longer exists.');
  setSetting(doc, ROOM_KEYS.entry, id);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The run history, newest first, skipping entries that are not run summaries. */
export function listRuns(doc: Y.Doc): RunSummary[] {
  const out: RunSummary[] = [];
  for (const r of docParts(doc).runs.toArray()) {
    if (!isRecord(r) || typeof r.run !== 'string') continue;
    const str = (k: string): string => (typeof r[k] === 'string' ? (r[k] as string) : '');
    const nul = (k: string): string | null => (typeof r[k] === 'string' ? (r[k] as string) : null);
    out.push({
      run: r.run,
      by: str('by'),
      language: str('language'),
      version: str('version'),
      startedAt: str('startedAt'),
      wall_ms: typeof r.wall_ms === 'number' ? r.wall_ms : 0,
      code: typeof r.code === 'number' ? r.code : null,
      signal: nul('signal'),
      status: nul('status'),
      message: nul('message'),
      output: str('output'),
    });
  }
  return out.reverse();
}

/** Calls `fn` when files (not their text), settings or runs change; returns the unsubscribe. */
export function onDocChange(doc: Y.Doc, fn: () => void): () => void {
  const { files, room, runs } = docParts(doc);
  const h = (): void => fn();
  // Typing changes Y.Text inside files; tabs only care about names, ids and settings, so text events are skipped.
  const hf = (events: Y.YEvent<Y.AbstractType<unknown>>[]): void => {
    if (events.some((e) => !(e.target instanceof Y.Text))) fn();
  };
  files.observeDeep(hf);
  room.observe(h);
  runs.observe(h);
  return () => {
    files.unobserveDeep(hf);
    room.unobserve(h);
    runs.unobserve(h);
  };
}

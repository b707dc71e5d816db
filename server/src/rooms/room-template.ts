/** The document a new room starts with (CONTRACT.md "Document sync": files, room, runs). */
import { randomBytes } from 'node:crypto';
import * as Y from 'yjs';
import { DOC_KEYS, FILE_KEYS, ROOM_KEYS } from '@codex/shared';
import { starterFile, type RoomLanguage } from './starter-files.js';

/** The first document state of a new room: one starter file, set as the entry. */
export function initialState(name: string, language: RoomLanguage): Uint8Array {
  const doc = new Y.Doc();
  const starter = starterFile(language);
  const fileId = randomBytes(9).toString('base64url');
  doc.transact(() => {
    const file = new Y.Map<unknown>();
    file.set(FILE_KEYS.name, starter.name);
    file.set(FILE_KEYS.text, new Y.Text(starter.text));
    doc.getMap(DOC_KEYS.files).set(fileId, file);
    const meta = doc.getMap(DOC_KEYS.room);
    meta.set(ROOM_KEYS.language, language);
    meta.set(ROOM_KEYS.version, '*');
    meta.set(ROOM_KEYS.entry, fileId);
    meta.set(ROOM_KEYS.name, name);
    meta.set(ROOM_KEYS.viewersCanRun, false);
    doc.getArray(DOC_KEYS.runs);
  });
  const state = Y.encodeStateAsUpdate(doc);
  doc.destroy();
  return state;
}

import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { DOC_KEYS, FILE_KEYS, ROOM_KEYS } from '@codex/shared';
import { addFile, deleteFile, fileNameProblem, fileText, listFiles, listRuns, onDocChange, readSettings, renameFile, setEntry } from '../src/lib/room/doc-model.js';

/** Two documents wired to each other, like two browsers through the server. */
function pair(): [Y.Doc, Y.Doc] {
  const a = new Y.Doc();
  const b = new Y.Doc();
  a.on('update', (u: Uint8Array, origin: unknown) => origin !== 'peer' && Y.applyUpdate(b, u, 'peer'));
  b.on('update', (u: Uint8Array, origin: unknown) => origin !== 'peer' && Y.applyUpdate(a, u, 'peer'));
  return [a, b];
}

describe('room document model', () => {
  it('adds, renames, deletes files and keeps the entry valid, shared with a second peer', () => {
    const [a, b] = pair();
    const main = addFile(a, 'main.py', 'print(1)\n');
    expect(readSettings(b).entry).toBe(main);
    const util = addFile(b, 'util.py');
    expect(listFiles(a).map((f) => f.name)).toEqual(['main.py', 'util.py']);
    renameFile(a, util, 'helpers.py');
    expect(listFiles(b).map((f) => f.name)).toEqual(['helpers.py', 'main.py']);
    setEntry(b, util);
    expect(readSettings(a).entry).toBe(util);
    deleteFile(a, util);
    expect(readSettings(b).entry).toBe(main);
    expect(fileText(b, main)?.toString()).toBe('print(1)\n');
    expect(() => deleteFile(a, main)).toThrow(/at least one file/);
  });

  it('refuses bad and duplicate file names with a readable reason', () => {
    const doc = new Y.Doc();
    const id = addFile(doc, 'main.py');
    expect(fileNameProblem(doc, '  ')).toMatch(/needs a name/);
    expect(fileNameProblem(doc, '../x.py')).toMatch(/relative path/);
    expect(fileNameProblem(doc, '/etc/passwd')).toMatch(/relative path/);
    expect(fileNameProblem(doc, 'main.py')).toMatch(/already a file/);
    expect(fileNameProblem(doc, 'main.py', id)).toBeNull();
    expect(fileNameProblem(doc, 'lib/util.py')).toBeNull();
    expect(() => addFile(doc, 'main.py')).toThrow(/already/);
  });

  it('reads the server-shaped document (files map of maps, room map, runs array)', () => {
    const doc = new Y.Doc();
    doc.transact(() => {
      const f = new Y.Map<unknown>();
      f.set(FILE_KEYS.name, 'main.py');
      f.set(FILE_KEYS.text, new Y.Text('x = 1'));
      doc.getMap(DOC_KEYS.files).set('abc', f);
      const room = doc.getMap(DOC_KEYS.room);
      room.set(ROOM_KEYS.language, 'python');
      room.set(ROOM_KEYS.version, '3.11.2');
      room.set(ROOM_KEYS.entry, 'abc');
      room.set(ROOM_KEYS.viewersCanRun, true);
      doc.getArray(DOC_KEYS.runs).push([
        { run: 'r1', by: 'Ana', language: 'python', version: '3.11.2', startedAt: '2026-01-01T00:00:00Z', wall_ms: 12, code: 0, signal: null, status: null, message: null, output: 'hi' },
        'garbage',
        { run: 'r2', by: 'Bo', language: 'python', version: '3.11.2', startedAt: '2026-01-01T00:01:00Z', wall_ms: 40, code: null, signal: 'SIGKILL', status: 'SG', message: null, output: '' },
      ]);
    });
    expect(listFiles(doc)).toEqual([{ id: 'abc', name: 'main.py' }]);
    expect(readSettings(doc)).toEqual({ name: '', language: 'python', version: '3.11.2', entry: 'abc', viewersCanRun: true });
    expect(listRuns(doc).map((r) => r.run)).toEqual(['r2', 'r1']);
    expect(listRuns(doc)[0]?.signal).toBe('SIGKILL');
  });

  it('notifies on file and setting changes but not on every keystroke', () => {
    const doc = new Y.Doc();
    const id = addFile(doc, 'main.py');
    let calls = 0;
    const off = onDocChange(doc, () => calls++);
    fileText(doc, id)?.insert(0, 'abc');
    expect(calls).toBe(0);
    renameFile(doc, id, 'app.py');
    expect(calls).toBe(1);
    setEntry(doc, id);
    expect(calls).toBe(2);
    off();
    renameFile(doc, id, 'main.py');
    expect(calls).toBe(2);
  });
});

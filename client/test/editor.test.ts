import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, render, screen, waitFor } from '@testing-library/svelte';
import { language } from '@codemirror/language';
import { EditorView } from '@codemirror/view';
import { yUndoManagerKeymap } from 'y-codemirror.next';
import * as Y from 'yjs';
import { Awareness } from 'y-protocols/awareness';
import Editor from '../src/lib/editor/Editor.svelte';
import { addFile, fileText } from '../src/lib/room/doc-model.js';

afterEach(cleanup);
// jsdom does no layout: give CodeMirror's measuring empty rectangles instead of missing methods.
Range.prototype.getClientRects = function () {
  return { length: 0, item: () => null, [Symbol.iterator]: [][Symbol.iterator] } as unknown as DOMRectList;
};
Range.prototype.getBoundingClientRect = () => new DOMRect();

function setup(readonly = false) {
  const doc = new Y.Doc();
  const id = addFile(doc, 'main.py', 'print("hi")\n');
  const awareness = new Awareness(doc);
  awareness.setLocalState({ user: { name: 'Ana', color: '#b3261e', colorLight: '#b3261e33' } });
  const onrun = vi.fn();
  const props = { doc, awareness, fileId: id, fileName: 'main.py', roomLanguage: 'python', readonly, follow: null, onrun, ontop: vi.fn() };
  const { rerender } = render(Editor, { props });
  const host = screen.getByTestId('editor');
  const view = EditorView.findFromDOM(host.querySelector('.cm-editor') as HTMLElement);
  if (!view) throw new Error('no editor view');
  return { doc, id, view, onrun, text: fileText(doc, id)!, rename: (fileName: string) => rerender({ ...props, fileName }) };
}

describe('editor bound to the room document', () => {
  it('shows the file, applies remote edits, and sends local ones', () => {
    const { view, text } = setup();
    expect(view.state.doc.toString()).toBe('print("hi")\n');
    text.insert(0, '# remote\n'); // another participant's edit
    expect(view.state.doc.toString()).toBe('# remote\nprint("hi")\n');
    view.dispatch({ changes: { from: view.state.doc.length, insert: 'x = 1\n' } });
    expect(text.toString()).toBe('# remote\nprint("hi")\nx = 1\n');
  });

  it('undoes only this participant’s edits', () => {
    const { view, text, doc } = setup();
    view.dispatch({ changes: { from: 0, insert: 'mine ' } });
    // A remote edit arrives through the provider (a foreign origin).
    const remote = new Y.Doc();
    Y.applyUpdate(remote, Y.encodeStateAsUpdate(doc));
    remote.on('update', (u: Uint8Array) => Y.applyUpdate(doc, u, 'provider'));
    fileText(remote, [...doc.getMap('files').keys()][0]!)!.insert(text.length, 'theirs');
    expect(text.toString()).toBe('mine print("hi")\ntheirs');
    yUndoManagerKeymap.find((k) => k.key === 'Mod-z')?.run?.(view);
    expect(text.toString()).toBe('print("hi")\ntheirs');
  });

  it('is read-only for viewers', async () => {
    const { view } = setup(true);
    expect(view.state.readOnly).toBe(true);
    await waitFor(() => expect(view.contentDOM.getAttribute('contenteditable')).toBe('false'));
    expect(view.contentDOM.getAttribute('aria-label')).toMatch(/read-only/);
  });

  it('runs on Ctrl+Enter instead of inserting a line', () => {
    const { view, onrun } = setup();
    view.contentDOM.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', ctrlKey: true, bubbles: true }));
    expect(onrun).toHaveBeenCalledOnce();
    expect(view.state.doc.toString()).toBe('print("hi")\n');
  });

  it('highlights by file type, and switches grammar when the file is renamed', async () => {
    const { view, rename } = setup();
    await waitFor(() => expect(view.state.facet(language)?.name).toBe('python'));
    await rename('notes.txt');
    await waitFor(() => expect(view.state.facet(language)).toBeNull());
    await rename('main.rb');
    await waitFor(() => expect(view.state.facet(language)?.name).toBe('ruby'));
  });
});

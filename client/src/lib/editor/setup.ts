/**
 * The editor's extensions, one small function each, in CodeMirror's own style. History comes from
 * the Yjs binding's undo manager (own edits only), never from CodeMirror's `history()`.
 */
import { closeBrackets, closeBracketsKeymap } from '@codemirror/autocomplete';
import { defaultKeymap, indentWithTab } from '@codemirror/commands';
import { bracketMatching, defaultHighlightStyle, indentOnInput, syntaxHighlighting } from '@codemirror/language';
import { highlightSelectionMatches, searchKeymap } from '@codemirror/search';
import { Compartment, EditorState, type Extension } from '@codemirror/state';
import {
  EditorView,
  crosshairCursor,
  drawSelection,
  dropCursor,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers,
  rectangularSelection,
} from '@codemirror/view';
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next';
import type * as Y from 'yjs';
import type { Awareness } from 'y-protocols/awareness';

/** The editing basics (no history: undo belongs to the Yjs binding). */
export function basics(): Extension {
  return [
    lineNumbers(),
    highlightActiveLineGutter(),
    highlightSpecialChars(),
    drawSelection(),
    dropCursor(),
    EditorState.allowMultipleSelections.of(true),
    indentOnInput(),
    syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
    bracketMatching(),
    closeBrackets(),
    rectangularSelection(),
    crosshairCursor(),
    highlightActiveLine(),
    highlightSelectionMatches(),
    keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...searchKeymap, ...yUndoManagerKeymap, indentWithTab]),
  ];
}

/** Read-only for viewers: the state refuses changes and the content is not editable. */
export function readOnly(ro: boolean): Extension {
  return [EditorState.readOnly.of(ro), EditorView.editable.of(!ro)];
}

/** Remote cursor labels always visible (the default shows them on hover only), in a readable face. */
export const cursorLabelTheme = EditorView.theme({
  // A regular theme (not a base theme) so it wins over y-codemirror.next's own base theme.
  '.cm-ySelectionCaret .cm-ySelectionInfo': { opacity: '1', fontFamily: 'system-ui, sans-serif', fontSize: '11px', padding: '1px 4px', borderRadius: '3px 3px 3px 0', top: '-1.45em' },
  '.cm-ySelectionCaret .cm-ySelectionCaretDot': { display: 'none' },
});

/** The layout theme: fills its box and scrolls inside. */
export const layoutTheme = EditorView.theme({
  '&': { height: '100%', fontSize: '14px' },
  '.cm-scroller': { fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace', lineHeight: '1.5' },
  '&.cm-focused': { outline: '2px solid #1f4fa8', outlineOffset: '-2px' },
});

/** The Yjs binding of one file, with its own undo manager (kept per file so tab switches keep history). */
export function collab(text: Y.Text, awareness: Awareness, undo: Y.UndoManager): Extension {
  return yCollab(text, awareness, { undoManager: undo });
}

/** Compartments that change while a file is open. */
export interface EditorCompartments {
  language: Compartment;
  readOnly: Compartment;
}

/** Fresh compartments for one editor. */
export function compartments(): EditorCompartments {
  return { language: new Compartment(), readOnly: new Compartment() };
}

import { describe, expect, it } from 'vitest';
import { LineInput, renderEffect, stripAnsi } from '../src/lib/exec/terminal-feed.js';

describe('terminal feed', () => {
  it('prints stdout as is, stderr in red (re-asserted after resets), input in cyan', () => {
    expect(renderEffect({ kind: 'output', stream: 'stdout', data: '\x1b[32mok\x1b[0m\n', by: null })).toBe('\x1b[32mok\x1b[0m\n');
    expect(renderEffect({ kind: 'output', stream: 'stderr', data: 'a\x1b[0mb', by: null })).toBe('\x1b[31ma\x1b[0m\x1b[31mb\x1b[0m');
    expect(renderEffect({ kind: 'output', stream: 'stdin', data: 'Bo\n', by: 'Bo' })).toBe('\x1b[36mBo\n\x1b[0m');
    expect(stripAnsi(renderEffect({ kind: 'started', view: { run: 'r', by: 'Ana', language: 'python', version: '3.11', phase: 'starting', exit: null, done: null, errors: [], lastSeq: -1 } }))).toBe('── Ana started a run (python 3.11) ──\n');
  });

  it('edits a line locally and sends it on Enter, erasing the local echo', () => {
    const li = new LineInput();
    expect(li.feed('Bx')).toEqual({ echo: 'Bx', send: null, interrupt: false });
    expect(li.feed('\x7f').echo).toBe('\b \b');
    expect(li.feed('o').echo).toBe('o');
    expect(li.pending).toBe('Bo');
    const r = li.feed('\r');
    expect(r.send).toBe('Bo\n');
    expect(r.echo).toBe('\x1b[2D\x1b[K');
    expect(li.pending).toBe('');
  });

  it('ignores arrow keys, interrupts on Ctrl+C and sends pasted lines', () => {
    const li = new LineInput();
    expect(li.feed('\x1b[A')).toEqual({ echo: '', send: null, interrupt: false });
    expect(li.feed('\x03').interrupt).toBe(true);
    expect(li.feed('one\rtwo\r').send).toBe('one\ntwo\n');
  });
});

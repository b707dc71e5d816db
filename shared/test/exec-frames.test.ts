import { describe, expect, it } from 'vitest';
import { parseClientFrame, parseServerFrame } from '../src/exec-frames.js';

describe('parseClientFrame', () => {
  it('accepts the three client frames', () => {
    expect(parseClientFrame('{"type":"run"}')).toEqual({ ok: true, frame: { type: 'run' } });
    expect(parseClientFrame({ type: 'run', language: 'python', args: ['a'] })).toEqual({
      ok: true,
      frame: { type: 'run', language: 'python', args: ['a'] },
    });
    expect(parseClientFrame({ type: 'data', stream: 'stdin', data: 'x\n' }).ok).toBe(true);
    expect(parseClientFrame({ type: 'signal', signal: 'SIGINT' }).ok).toBe(true);
  });

  it('names what is wrong', () => {
    expect(parseClientFrame('nope')).toEqual({ ok: false, error: 'frame is not valid JSON' });
    expect(parseClientFrame('[1]')).toEqual({ ok: false, error: 'frame must be a JSON object' });
    expect(parseClientFrame({ type: 'run', args: [1] })).toEqual({ ok: false, error: 'args must be an array of strings' });
    expect(parseClientFrame({ type: 'run', language: 3 })).toEqual({ ok: false, error: 'language must be a string' });
    expect(parseClientFrame({ type: 'data', stream: 'stdout', data: '' })).toEqual({
      ok: false,
      error: 'data frames may only write to stdin',
    });
    expect(parseClientFrame({ type: 'signal', signal: 'SIGSTOP' }).ok).toBe(false);
    expect(parseClientFrame({ type: 'bogus' })).toEqual({ ok: false, error: 'unknown frame type "bogus"' });
  });
});

describe('parseServerFrame', () => {
  it('accepts numbered frames and rejects malformed ones', () => {
    expect(parseServerFrame({ type: 'data', run: 'r', seq: 0, stream: 'stdout', data: 'hi' }).ok).toBe(true);
    expect(parseServerFrame({ type: 'data', run: 'r', stream: 'stdout', data: 'hi' }).ok).toBe(false);
    expect(parseServerFrame({ type: 'done', run: 'r', code: 0, signal: null, wall_ms: 3 }).ok).toBe(true);
    expect(parseServerFrame('{').ok).toBe(false);
  });
});

/**
 * The exec channel's small parts on their own: the bounded replay buffer, the sliding-window rate
 * limiter (with driven time), Piston's runtime choice, reading a run's files from a document, and
 * display names.
 */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { DOC_KEYS, FILE_KEYS, ROOM_KEYS } from '@codex/shared';
import { displayName, runDeadlineMs } from '../src/exec/exec-channel.js';
import { RateLimiter } from '../src/exec/rate-limit.js';
import { ReplayBuffer } from '../src/exec/replay-buffer.js';
import { readRunInputFromDoc } from '../src/exec/room-port.js';
import { pick } from '../src/exec/runtime-catalog.js';
import { configWith } from '../src/config.js';

describe('ReplayBuffer', () => {
  it('keeps the newest frames within its cap and numbers without gaps', () => {
    const b = new ReplayBuffer(10);
    for (let i = 0; i < 5; i++) b.push(i, Buffer.from('abcd'));
    // 5 × 4 bytes, cap 10: the newest two stay
    expect(b.firstSeq).toBe(3);
    expect(b.nextSeq).toBe(5);
    expect(b.bytes).toBe(8);
    expect(b.get(2)).toBeUndefined();
    expect(b.get(3)?.seq).toBe(3);
    expect(b.get(5)).toBeUndefined();
    expect(() => b.push(7, Buffer.from('x'))).toThrow(/expected seq 5/);
  });

  it('always keeps the newest frame, even one larger than the cap', () => {
    const b = new ReplayBuffer(4);
    b.push(0, Buffer.from('12'));
    b.push(1, Buffer.alloc(100));
    expect(b.firstSeq).toBe(1);
    expect(b.get(1)?.bytes.length).toBe(100);
  });

  it('stays flat over many frames', () => {
    const b = new ReplayBuffer(1024);
    for (let i = 0; i < 100_000; i++) b.push(i, Buffer.alloc(100));
    expect(b.bytes).toBeLessThanOrEqual(1024);
    expect(b.nextSeq - b.firstSeq).toBe(10);
    expect(b.get(99_999)?.seq).toBe(99_999);
  });
});

describe('RateLimiter', () => {
  it('allows `limit` events per window per key and says when to retry', () => {
    let now = 0;
    const r = new RateLimiter(2, 60_000, () => now);
    expect(r.take('a')).toBe(true);
    expect(r.take('a')).toBe(true);
    expect(r.take('a')).toBe(false);
    expect(r.take('b')).toBe(true);
    expect(r.retryAfter('a')).toBe(60);
    now = 30_000;
    expect(r.retryAfter('a')).toBe(30);
    now = 60_001;
    expect(r.retryAfter('a')).toBe(0);
    expect(r.take('a')).toBe(true);
    r.forget('a');
    expect(r.retryAfter('a')).toBe(0);
  });
});

describe("Piston's runtime choice", () => {
  const list = [
    { language: 'python', version: '3.9.4', aliases: ['py'] },
    { language: 'python', version: '3.11.2', aliases: ['py', 'python3'] },
    { language: 'c++', version: '12.2.0', aliases: ['cpp', 'g++'], runtime: 'gcc' },
    { language: 'java', version: '17.0.15', aliases: [] },
  ];
  it('matches names and aliases and takes the highest satisfying version', () => {
    expect(pick(list, 'python', '*')?.version).toBe('3.11.2');
    expect(pick(list, 'py', '3.9')?.version).toBe('3.9.4');
    expect(pick(list, 'cpp', '12.x')?.language).toBe('c++');
    expect(pick(list, 'java', '17.0.15')?.version).toBe('17.0.15');
    expect(pick(list, 'Python', '*')).toBeUndefined(); // case-sensitive, as Piston
    expect(pick(list, 'python', '2')).toBeUndefined();
    expect(pick(list, 'python', 'not a range')).toBeUndefined();
  });
});

describe('reading a run from the room document', () => {
  function doc(): Y.Doc {
    const d = new Y.Doc();
    const files = d.getMap<Y.Map<unknown>>(DOC_KEYS.files);
    for (const [id, name, text] of [['a', 'util.py', 'X = 1\n'], ['b', 'main.py', 'import util\nprint("é")\n'], ['c', 'aaa.py', '']] as const) {
      const f = new Y.Map<unknown>();
      f.set(FILE_KEYS.name, name);
      f.set(FILE_KEYS.text, new Y.Text(text));
      files.set(id, f);
    }
    d.getMap(DOC_KEYS.room).set(ROOM_KEYS.language, 'python');
    d.getMap(DOC_KEYS.room).set(ROOM_KEYS.entry, 'b');
    return d;
  }
  it('puts the entry file first, then the others by name, and counts UTF-8 bytes', () => {
    const input = readRunInputFromDoc(doc());
    expect(input.files.map((f) => f.name)).toEqual(['main.py', 'aaa.py', 'util.py']);
    expect(input.language).toBe('python');
    expect(input.version).toBe('*');
    expect(input.bytes).toBe(Buffer.byteLength('X = 1\nimport util\nprint("é")\n'));
  });
});

describe('names and deadlines', () => {
  it('trims, caps at 64 characters and defaults to Anonymous', () => {
    expect(displayName('  Ann  ')).toBe('Ann');
    expect(displayName(null)).toBe('Anonymous');
    expect(displayName('   ')).toBe('Anonymous');
    expect([...displayName('😀'.repeat(70))]).toHaveLength(64);
  });
  it("gives a run Piston's timeouts plus a margin, or half an hour when unlimited", () => {
    expect(runDeadlineMs(configWith({ runTimeout: 3000, compileTimeout: 10_000 }))).toBe(28_000);
    expect(runDeadlineMs(configWith({ runTimeout: -1 }))).toBe(30 * 60_000);
  });
});

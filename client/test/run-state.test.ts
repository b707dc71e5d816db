import { describe, expect, it } from 'vitest';
import type { ServerFrame } from '@codex/shared';
import { applyFrame, formatDuration, initialRunState, isRunning, outcomeText, type RunEffect, type RunState } from '../src/lib/exec/run-state.js';

function play(frames: ServerFrame[], start: RunState = initialRunState): { state: RunState; effects: RunEffect[] } {
  let state = start;
  const effects: RunEffect[] = [];
  for (const f of frames) {
    const r = applyFrame(state, f);
    state = r.state;
    effects.push(r.effect);
  }
  return { state, effects };
}

const RUN: ServerFrame[] = [
  { type: 'run', run: 'r1', by: 'Ana', language: 'python', version: '3.11.2' },
  { type: 'runtime', run: 'r1', seq: 0, language: 'python', version: '3.11.2' },
  { type: 'stage', run: 'r1', seq: 1, stage: 'run' },
  { type: 'data', run: 'r1', seq: 2, stream: 'stdout', data: 'Name? ' },
  { type: 'data', run: 'r1', seq: 3, stream: 'stdin', data: 'Bo\n', by: 'Bo' },
  { type: 'data', run: 'r1', seq: 4, stream: 'stderr', data: 'warn\n' },
  { type: 'exit', run: 'r1', seq: 5, stage: 'run', code: 0, signal: null },
  { type: 'done', run: 'r1', code: 0, signal: null, status: null, message: null, wall_ms: 84 },
];

describe('run state reducer', () => {
  it('follows a run from start to done', () => {
    const mid = play(RUN.slice(0, 4));
    expect(isRunning(mid.state)).toBe(true);
    expect(mid.state.current?.phase).toBe('run');
    const { state, effects } = play(RUN);
    expect(isRunning(state)).toBe(false);
    expect(state.current?.by).toBe('Ana');
    expect(outcomeText(state.current!)).toBe('exit code 0');
    expect(effects.map((e) => e.kind)).toEqual(['started', 'none', 'stage', 'output', 'output', 'output', 'exit', 'done']);
  });

  it('drops frames a reconnect replays and keeps order by seq', () => {
    const first = play(RUN.slice(0, 5));
    // The server replays the run from seq 0 after a reconnect, then goes on live.
    const again = play(RUN, first.state);
    const outputs = again.effects.filter((e) => e.kind === 'output');
    expect(outputs).toEqual([{ kind: 'output', stream: 'stderr', data: 'warn\n', by: null }]);
    expect(again.state.current?.phase).toBe('done');
  });

  it('keeps a refusal aimed at this participant apart from the run', () => {
    const { state, effects } = play([...RUN.slice(0, 3), { type: 'error', message: 'a run is already going' }]);
    expect(state.notice).toBe('a run is already going');
    expect(isRunning(state)).toBe(true);
    expect(effects.at(-1)).toEqual({ kind: 'error', message: 'a run is already going', inRun: false });
  });

  it('reports signals, limits and compile failures in words', () => {
    const killed = play([RUN[0]!, { type: 'done', run: 'r1', code: null, signal: 'SIGKILL', status: 'SG', wall_ms: 3000 }]);
    expect(outcomeText(killed.state.current!)).toBe('stopped by SIGKILL');
    const timeout = play([RUN[0]!, { type: 'done', run: 'r1', code: null, signal: 'SIGKILL', status: 'TO', wall_ms: 3000 }]);
    expect(outcomeText(timeout.state.current!)).toBe('stopped by SIGKILL, time limit reached');
    const compile = play([
      { type: 'run', run: 'c', by: 'Ana', language: 'c', version: '12' },
      { type: 'stage', run: 'c', seq: 0, stage: 'compile' },
      { type: 'exit', run: 'c', seq: 1, stage: 'compile', code: 1, signal: null },
      { type: 'done', run: 'c', code: 1, signal: null, wall_ms: 200 },
    ]);
    expect(outcomeText(compile.state.current!)).toBe('compile failed, exit code 1');
    expect(formatDuration(84)).toBe('84 ms');
    expect(formatDuration(2400)).toBe('2.4 s');
  });

  it('handles hello and gap frames added by the exec channel', () => {
    const running = play(RUN.slice(0, 3));
    // Reconnected after the run ended and its frames were dropped: hello names no run.
    const closed = play([{ type: 'hello', role: 'editor', name: 'Bo', canRun: true, run: null }], running.state);
    expect(closed.state.current?.phase).toBe('done');
    const gap = play([{ type: 'gap', run: 'r1', from: 2, to: 9 }, { type: 'data', run: 'r1', seq: 10, stream: 'stdout', data: 'x' }], running.state);
    expect(gap.effects[0]).toEqual({ kind: 'gap', frames: 8 });
    expect(gap.effects[1]?.kind).toBe('output');
  });
});

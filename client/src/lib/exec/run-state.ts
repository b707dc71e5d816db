/**
 * The shared run as a pure reducer over the exec channel's server frames (CONTRACT.md "Shared
 * execution"). Frames are numbered per run; a reconnect's replay repeats frames already seen, so
 * anything at or below the last applied `seq` of the same run is dropped.
 */
import { assertNever } from '@codex/shared';
import type { ServerFrame } from '@codex/shared';

/** Where a run is. */
export type RunPhase = 'starting' | 'compile' | 'run' | 'done';

/** What the run panel shows about the current (or last) run. */
export interface RunView {
  run: string;
  by: string;
  language: string;
  version: string;
  phase: RunPhase;
  /** exit of the last stage that ended */
  exit: { stage: 'compile' | 'run'; code: number | null; signal: string | null } | null;
  done: { code: number | null; signal: string | null; status: string | null; message: string | null; wallMs: number } | null;
  errors: string[];
  /** highest seq applied, -1 before the first numbered frame */
  lastSeq: number;
}

/** The run state plus the last refusal aimed at this participant alone. */
export interface RunState {
  current: RunView | null;
  notice: string | null;
}

/** What a frame did, for the terminal and the announcer. */
export type RunEffect =
  | { kind: 'none' }
  | { kind: 'started'; view: RunView }
  | { kind: 'output'; stream: 'stdout' | 'stderr' | 'stdin'; data: string; by: string | null }
  | { kind: 'stage'; stage: 'compile' | 'run' }
  | { kind: 'exit'; stage: 'compile' | 'run'; code: number | null; signal: string | null }
  | { kind: 'error'; message: string; inRun: boolean }
  | { kind: 'gap'; frames: number }
  | { kind: 'done'; view: RunView };

/** The state before any frame. */
export const initialRunState: RunState = { current: null, notice: null };

/** True while a run is going. */
export function isRunning(s: RunState): boolean {
  return s.current !== null && s.current.phase !== 'done';
}

function seqOk(cur: RunView | null, run: string, seq: number | undefined): cur is RunView {
  return cur !== null && cur.run === run && (seq === undefined || seq > cur.lastSeq);
}

/** Applies one server frame; returns the next state and what it means for the screen. */
export function applyFrame(s: RunState, f: ServerFrame): { state: RunState; effect: RunEffect } {
  const cur = s.current;
  const none = { state: s, effect: { kind: 'none' } as RunEffect };
  switch (f.type) {
    case 'run': {
      if (cur && cur.run === f.run) return none; // replayed start of a run we already show
      const view: RunView = { run: f.run, by: f.by, language: f.language, version: f.version, phase: 'starting', exit: null, done: null, errors: [], lastSeq: -1 };
      return { state: { current: view, notice: null }, effect: { kind: 'started', view } };
    }
    case 'runtime':
      if (!seqOk(cur, f.run, f.seq)) return none;
      return { state: { ...s, current: { ...cur, language: f.language, version: f.version, lastSeq: f.seq } }, effect: { kind: 'none' } };
    case 'stage':
      if (!seqOk(cur, f.run, f.seq)) return none;
      return { state: { ...s, current: { ...cur, phase: f.stage, lastSeq: f.seq } }, effect: { kind: 'stage', stage: f.stage } };
    case 'data':
      if (!seqOk(cur, f.run, f.seq)) return none;
      return { state: { ...s, current: { ...cur, lastSeq: f.seq } }, effect: { kind: 'output', stream: f.stream, data: f.data, by: f.by ?? null } };
    case 'exit':
      if (!seqOk(cur, f.run, f.seq)) return none;
      return {
        state: { ...s, current: { ...cur, exit: { stage: f.stage, code: f.code, signal: f.signal }, lastSeq: f.seq } },
        effect: { kind: 'exit', stage: f.stage, code: f.code, signal: f.signal },
      };
    case 'error':
      if (f.run === undefined) return { state: { ...s, notice: f.message }, effect: { kind: 'error', message: f.message, inRun: false } };
      if (!seqOk(cur, f.run, f.seq)) return none;
      return {
        state: { ...s, current: { ...cur, errors: [...cur.errors, f.message], lastSeq: f.seq ?? cur.lastSeq } },
        effect: { kind: 'error', message: f.message, inRun: true },
      };
    case 'done': {
      if (!cur || cur.run !== f.run || cur.phase === 'done') return none;
      const view: RunView = {
        ...cur,
        phase: 'done',
        done: { code: f.code, signal: f.signal, status: f.status ?? null, message: f.message ?? null, wallMs: f.wall_ms },
      };
      return { state: { ...s, current: view }, effect: { kind: 'done', view } };
    }
    case 'hello':
      // The server says which run it replays next. A run we still show as going that is not that
      // one ended while we were away and its frames are gone: close it rather than spin forever.
      if (cur && cur.phase !== 'done' && cur.run !== f.run) {
        const view: RunView = { ...cur, phase: 'done', done: { code: null, signal: null, status: null, message: 'ended while this screen was disconnected', wallMs: 0 } };
        return { state: { ...s, current: view }, effect: { kind: 'done', view } };
      }
      return none;
    case 'gap': {
      // Frames from..to will never come (we fell behind or joined late): say so, then carry on after them.
      if (!cur || cur.run !== f.run || f.to <= cur.lastSeq) return none;
      return { state: { ...s, current: { ...cur, lastSeq: f.to } }, effect: { kind: 'gap', frames: f.to - Math.max(f.from, cur.lastSeq + 1) + 1 } };
    }
    default:
      return assertNever(f);
  }
}

/** "exit code 0", "killed by SIGKILL", "time limit"... for the panel and announcements. */
export function outcomeText(v: RunView): string {
  const d = v.done;
  if (!d) return v.phase === 'starting' ? 'starting' : v.phase === 'compile' ? 'compiling' : 'running';
  const parts: string[] = [];
  if (d.signal) parts.push(`stopped by ${d.signal}`);
  else if (d.code !== null) parts.push(`exit code ${d.code}`);
  if (d.status === 'TO') parts.push('time limit reached');
  else if (d.status === 'OL' || d.status === 'EL') parts.push('output limit reached');
  else if (d.status === 'XX' || (d.message && d.code === null && !d.signal)) parts.push(d.message ?? 'failed');
  if (v.exit?.stage === 'compile' && (v.exit.code ?? 0) !== 0) parts.unshift('compile failed');
  return parts.join(', ') || 'finished';
}

/** A duration for people: "850 ms", "2.4 s". */
export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

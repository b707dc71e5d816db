/**
 * The room's shared run as seen by this participant: the exec socket, the run reducer, the
 * terminal transcript and the announcements, glued together. Components read its stores and call
 * `run`, `stop`, `input`; the terminal subscribes to `onText` for what to print.
 */
import { get, writable, type Readable } from 'svelte/store';
import type { ServerFrame, StopSignal } from '@codex/shared';
import type { Announcer } from '../a11y/announcer.js';
import { InputWaitDetector } from '../a11y/announcer.js';
import { openExecSocket, type ExecLink, type ExecSocket } from './exec-socket.js';
import { applyFrame, initialRunState, isRunning, type RunEffect, type RunState } from './run-state.js';
import { doneLine, renderEffect, stripAnsi } from './terminal-feed.js';

/** Largest transcript kept for a terminal that mounts late (older text is dropped from the front). */
const TRANSCRIPT_MAX = 256 * 1024;

/** Options of `createRunSession`. */
export interface RunSessionOptions {
  base: string;
  roomId: string;
  token: string;
  name: string;
  announcer: Announcer;
  WebSocketImpl?: typeof WebSocket;
}

/** A live run session. */
export interface RunSession {
  state: Readable<RunState>;
  link: Readable<ExecLink>;
  /** true once the program looks like it waits for input (until it prints or input is sent) */
  waiting: Readable<boolean>;
  /** Everything printed since the current run began, with ANSI colours. */
  transcript(): string;
  /** Subscribe to terminal text: `reset` true means a new run began (clear the screen first). */
  onText(fn: (text: string, reset: boolean) => void): () => void;
  /** Applies a server frame (the socket calls this; tests may too). */
  handle(frame: ServerFrame): void;
  /** The display name changed: runs started from now on show the new one. */
  rename(name: string): void;
  run(language: string, version: string): string | null;
  stop(signal?: StopSignal): string | null;
  input(line: string): string | null;
  close(): void;
}

/** Opens the exec channel of a room and returns the session around it. */
export function createRunSession(o: RunSessionOptions): RunSession {
  const state = writable<RunState>(initialRunState);
  const waiting = writable(false);
  const listeners = new Set<(text: string, reset: boolean) => void>();
  let transcript = '';
  const detector = new InputWaitDetector(() => {
    if (get(state).current?.phase === 'run') {
      waiting.set(true);
      o.announcer.say('The program is waiting for input.');
    }
  });

  const print = (text: string, reset: boolean): void => {
    if (reset) transcript = '';
    transcript += text;
    if (transcript.length > TRANSCRIPT_MAX) transcript = transcript.slice(transcript.length - TRANSCRIPT_MAX);
    for (const l of listeners) l(text, reset);
  };

  const announce = (e: RunEffect): void => {
    switch (e.kind) {
      case 'started':
        o.announcer.say(`${e.view.by || 'Someone'} started a run.`);
        break;
      case 'stage':
        if (e.stage === 'compile') o.announcer.say('Compiling.');
        break;
      case 'error':
        o.announcer.say(e.message);
        break;
      case 'done':
        o.announcer.say(`Run finished: ${doneLine(e.view)}.`);
        break;
      case 'output':
      case 'exit':
      case 'gap':
      case 'none':
        break;
    }
  };

  const handle = (frame: ServerFrame): void => {
    const { state: next, effect } = applyFrame(get(state), frame);
    state.set(next);
    if (effect.kind === 'output' && effect.stream !== 'stdin') detector.output(effect.data);
    if (effect.kind === 'output' && effect.stream === 'stdin') detector.cancel();
    if (effect.kind === 'output' || effect.kind === 'done' || effect.kind === 'started') waiting.set(false);
    if (effect.kind === 'done' || effect.kind === 'started') detector.cancel();
    const text = renderEffect(effect);
    if (effect.kind === 'started') print(text, true);
    else if (text) print(text, false);
    announce(effect);
  };

  const socket: ExecSocket = openExecSocket({
    base: o.base,
    roomId: o.roomId,
    token: o.token,
    name: o.name,
    onFrame: handle,
    ...(o.WebSocketImpl ? { WebSocketImpl: o.WebSocketImpl } : {}),
  });

  const offline = 'The run channel is not connected; try again in a moment.';
  return {
    state,
    link: socket.link,
    waiting,
    transcript: () => transcript,
    onText(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    handle,
    rename: (name) => socket.rename(name),
    run(language, version) {
      if (isRunning(get(state))) return 'A run is already going.';
      return socket.send({ type: 'run', ...(language ? { language } : {}), ...(version ? { version } : {}) }) ? null : offline;
    },
    stop(signal = 'SIGKILL') {
      return socket.send({ type: 'signal', signal }) ? null : offline;
    },
    input(line) {
      detector.cancel();
      waiting.set(false);
      return socket.send({ type: 'data', stream: 'stdin', data: line }) ? null : offline;
    },
    close() {
      detector.cancel();
      listeners.clear();
      socket.close();
    },
  };
}

/** Plain text of the transcript (for the screen-reader log). */
export function plainTranscript(s: RunSession): string {
  return stripAnsi(s.transcript());
}

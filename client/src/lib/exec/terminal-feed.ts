/**
 * What the shared terminal prints, as pure functions: run headers, stdout as is (ANSI kept), stderr
 * in red, echoed input in cyan, and a local line editor for typing the program's input. The xterm
 * wrapper only moves these strings to the screen, so the logic is testable without a canvas.
 */
import type { RunEffect, RunView } from './run-state.js';
import { formatDuration, outcomeText } from './run-state.js';

const RED = '\x1b[31m';
const CYAN = '\x1b[36m';
const DIM = '\x1b[2m';
const RESET = '\x1b[0m';

/** The terminal text for one effect of a frame ('' for none). */
export function renderEffect(e: RunEffect): string {
  switch (e.kind) {
    case 'none':
    case 'stage':
      return '';
    case 'started':
      return `${DIM}── ${e.view.by || 'someone'} started a run (${e.view.language} ${e.view.version}) ──${RESET}\n`;
    case 'output':
      if (e.stream === 'stdout') return e.data;
      // Re-assert red after any reset inside the program's own colours.
      if (e.stream === 'stderr') return RED + e.data.replaceAll('\x1b[0m', '\x1b[0m' + RED) + RESET;
      return CYAN + e.data + RESET;
    case 'exit':
      return '';
    case 'error':
      return e.inRun ? `${RED}error: ${e.message}${RESET}\n` : '';
    case 'gap':
      return `\n${DIM}[… ${e.frames} part${e.frames === 1 ? '' : 's'} of the output skipped …]${RESET}\n`;
    case 'done':
      return `\n${DIM}── ${doneLine(e.view)} ──${RESET}\n`;
  }
}

/** "exit code 0 in 120 ms" */
export function doneLine(v: RunView): string {
  return `${outcomeText(v)}${v.done ? ` in ${formatDuration(v.done.wallMs)}` : ''}`;
}

/** Removes ANSI escape sequences, for the screen-reader log and for tests. */
export function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*(\x07|\x1b\\)/g, '');
}

/** A write to the screen and/or a line to send as the program's input. */
export interface LineInputResult {
  echo: string;
  send: string | null;
  interrupt: boolean;
}

/**
 * A tiny line editor: typed characters echo locally until Enter sends the line (with "\n"). The
 * local echo is then erased, because the server echoes the input to everyone, this screen included,
 * so every terminal shows the same text.
 */
export class LineInput {
  private buf = '';

  /** The line typed so far. */
  get pending(): string {
    return this.buf;
  }

  /** Handles xterm's `onData` (keys or a paste). */
  feed(data: string): LineInputResult {
    // Escape sequences (arrows, function keys) arrive as one chunk starting with ESC; ignored whole.
    if (data.startsWith('\x1b')) return { echo: '', send: null, interrupt: false };
    let echo = '';
    let send: string | null = null;
    let interrupt = false;
    for (const ch of data) {
      if (ch === '\r' || ch === '\n') {
        echo += this.erase();
        send = (send ?? '') + this.buf + '\n';
        this.buf = '';
      } else if (ch === '\x7f' || ch === '\b') {
        if (this.buf.length > 0) {
          const chars = [...this.buf];
          chars.pop();
          this.buf = chars.join('');
          echo += '\b \b';
        }
      } else if (ch === '\x03') {
        interrupt = true;
      } else if (ch === '\x15') {
        echo += this.erase();
        this.buf = '';
      } else if (ch >= ' ' && ch !== '\x1b') {
        this.buf += ch;
        echo += ch;
      }
    }
    return { echo, send, interrupt };
  }

  /** Text that hides the local echo (before output is printed) ... */
  hide(): string {
    return this.erase();
  }

  /** ... and text that shows it again after. */
  show(): string {
    return this.buf;
  }

  /** Forgets the line (a new run, or input no longer allowed). */
  reset(): string {
    const e = this.erase();
    this.buf = '';
    return e;
  }

  private erase(): string {
    const n = [...this.buf].length;
    return n > 0 ? `\x1b[${n}D\x1b[K` : '';
  }
}

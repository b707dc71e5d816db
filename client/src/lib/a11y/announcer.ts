/**
 * Short spoken announcements ("Ana started a run", "The program is waiting for input") through one
 * polite live region. Repeating the same sentence would be swallowed by screen readers, so a
 * zero-width marker toggles to make each announcement a change.
 */
import { writable, type Readable } from 'svelte/store';

/** The announcer: `say()` a sentence; `message` feeds the live region. */
export interface Announcer {
  message: Readable<string>;
  say(text: string): void;
}

/** Creates an announcer. */
export function createAnnouncer(): Announcer {
  const message = writable('');
  let flip = false;
  return {
    message,
    say(text) {
      flip = !flip;
      message.set(flip ? text : `${text}\u200b`);
    },
  };
}

/**
 * Detects "the program is waiting for input": a run in its run stage printed output not ending in
 * a newline (a prompt) and then went quiet. Feed it output and phases; it calls `onWaiting` once per prompt.
 */
export class InputWaitDetector {
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly onWaiting: () => void,
    private readonly quietMs = 600,
  ) {}

  /** Output arrived (stdout or stderr) while the run is in its run stage. */
  output(data: string): void {
    this.cancel();
    if (data.length > 0 && !data.endsWith('\n')) this.timer = setTimeout(() => this.fire(), this.quietMs);
  }

  /** The run ended or input was sent: forget the prompt. */
  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private fire(): void {
    this.timer = null;
    this.onWaiting();
  }
}

/**
 * Ordered shutdown with a deadline: steps run one after the other, each step's failure is
 * logged and the next still runs; calling it again returns the same promise.
 */
import type { Logger } from '../log.js';

/** One named step of the shutdown. */
export interface ShutdownStep {
  name: string;
  run(): Promise<void> | void;
}

/** Returns a memoised `close()` that runs `steps` in order within `deadlineMs`. */
export function orderedShutdown(steps: readonly ShutdownStep[], deadlineMs: number, log: Logger): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => {
    done ??= (async () => {
      const deadline = Date.now() + deadlineMs;
      for (const step of steps) {
        const left = deadline - Date.now();
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            Promise.resolve().then(() => step.run()),
            new Promise<void>((_, reject) => {
              timer = setTimeout(() => reject(new Error(`timed out after ${deadlineMs} ms`)), Math.max(left, 0));
            }),
          ]);
        } catch (err) {
          log.error({ err, step: step.name }, 'shutdown step failed');
        } finally {
          clearTimeout(timer);
        }
      }
    })();
    return done;
  };
}

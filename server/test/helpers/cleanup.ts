/**
 * Test helper: what a test starts (servers, stand-in Pistons, clients) is registered as it is
 * made and stopped after each test, newest first; stopping something a test already stopped is
 * harmless.
 */
import { afterEach } from 'vitest';

type Stoppable = { stop(): Promise<void> } | { close(): void };

/** Registers the afterEach; returns `track`, which hands back what it is given. */
export function stopAfterEach(): <T extends Stoppable>(thing: T) => T {
  const started: Stoppable[] = [];
  afterEach(async () => {
    for (const thing of started.splice(0).reverse()) {
      if ('stop' in thing) await thing.stop().catch(() => undefined);
      else thing.close();
    }
  });
  return (thing) => {
    started.push(thing);
    return thing;
  };
}

/** Runs once before the browser suite: builds the server and the client if they are missing or stale. */
import { ensureBuilt } from './harness.js';

/** vitest globalSetup entry. */
export default function setup(): void {
  ensureBuilt();
}

import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The browser suite: the real server (node server/dist/main.js) driven through Debian's Chromium.
export default defineConfig({
  test: {
    name: 'client-e2e',
    root: fileURLToPath(new URL('.', import.meta.url)),
    include: ['e2e/**/*.e2e.ts'],
    // Build once, before any file starts a server (files building in parallel would race on client/dist).
    globalSetup: ['e2e/global-setup.ts'],
    environment: 'node',
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // One browser suite at a time: each file starts a server and a Chromium on a 2-core machine.
    fileParallelism: false,
  },
});

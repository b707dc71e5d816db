import { fileURLToPath } from 'node:url';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vitest/config';

// Component and unit tests of the client: jsdom, Svelte compiled for the browser.
export default defineConfig({
  plugins: [svelte()],
  resolve: {
    alias: { '@codex/shared': fileURLToPath(new URL('../shared/src/index.ts', import.meta.url)) },
    conditions: ['browser'],
  },
  test: {
    name: 'client',
    root: fileURLToPath(new URL('.', import.meta.url)),
    include: ['test/**/*.test.ts'],
    environment: 'jsdom',
    testTimeout: 20_000,
  },
});

import { defineConfig } from 'vitest/config';

// One project per workspace; each project file says how its tests run.
export default defineConfig({
  test: {
    projects: ['server/vitest.config.ts', 'shared/vitest.config.ts', 'client/vitest.config.ts', 'client/vitest.e2e.config.ts'],
    // Two cores: files run two at a time so timing-sensitive suites keep their headroom.
    maxWorkers: 2,
  },
});

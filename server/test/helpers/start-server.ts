/**
 * Test helper: a real CodeX server on 127.0.0.1 and an ephemeral port, with a fresh data
 * directory and a silent logger; `stop()` closes it and removes the directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { configWith, type Config } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { createServer, type CodexServer, type ServerDeps } from '../../src/server.js';

/** A started server and how to reach it. */
export interface TestServer {
  server: CodexServer;
  config: Config;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `ws://127.0.0.1:<port>` */
  wsUrl: string;
  port: number;
  dataDir: string;
  /** closes the server; with `{ keepData: true }` the data directory survives (restart tests) */
  stop(opts?: { keepData?: boolean }): Promise<void>;
}

/** Starts a server with test-friendly defaults, overridden by `overrides`; `deps` adds to the silent logger. */
export async function startServer(overrides: Partial<Config> = {}, deps: Omit<ServerDeps, 'log'> = {}): Promise<TestServer> {
  const dataDir = overrides.dataDir ?? mkdtempSync(path.join(tmpdir(), 'codex-test-'));
  const config = configWith({ host: '127.0.0.1', port: 0, logLevel: 'silent', ...overrides, dataDir });
  const server = await createServer(config, { ...deps, log: silentLogger() });
  const addr = await server.listen();
  return {
    server,
    config,
    url: `http://127.0.0.1:${addr.port}`,
    wsUrl: `ws://127.0.0.1:${addr.port}`,
    port: addr.port,
    dataDir,
    // idempotent: server.close() is memoised and removing a removed directory is a no-op
    async stop(opts = {}) {
      await server.close();
      if (!opts.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

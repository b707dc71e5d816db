/**
 * The entry point and the only module that touches `process`: environment → config →
 * createServer → listen, and SIGTERM/SIGINT → graceful close → exit 0.
 */
import { mkdirSync } from 'node:fs';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger } from './log.js';
import { createServer } from './server.js';

function readConfig(): Config {
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const line of err.problems) process.stderr.write(`codex: ${line}\n`);
      process.exit(2);
    }
    throw err;
  }
}

const config = readConfig();
const log = createLogger(config.logLevel);
mkdirSync(config.dataDir, { recursive: true });
const server = await createServer(config, { log });
await server.listen();

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}

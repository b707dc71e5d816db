/**
 * `npm run engine`: the embedded engine on its own, a drop-in Piston on 127.0.0.1:2000
 * (PISTON_BIND_ADDRESS=host:port, or HOST and PORT, override).
 */
import { ConfigError, loadConfig } from '../../config.js';
import { createLogger } from '../../log.js';
import { startEmbeddedEngine } from './embedded.js';

function bindAddress(env: NodeJS.ProcessEnv, fromConfig: string | undefined): { host: string; port: number } {
  if (fromConfig) {
    const i = fromConfig.lastIndexOf(':');
    const host = fromConfig.slice(0, i).replace(/^\[|\]$/g, '');
    const port = Number(fromConfig.slice(i + 1));
    if (i <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError([`PISTON_BIND_ADDRESS=${JSON.stringify(fromConfig)} is not valid: expected host:port`]);
    return { host, port };
  }
  return { host: env.HOST || '127.0.0.1', port: env.PORT ? Number(env.PORT) : 2000 };
}

async function main(): Promise<void> {
  let config;
  let bind;
  try {
    config = loadConfig(process.env);
    bind = bindAddress(process.env, config.engineBindAddress);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  const engine = await startEmbeddedEngine(config, log, bind);
  const problem = engine.problem();
  if (problem) log.error({ problem }, 'the engine answers every job with an error until this is fixed');
  const stop = (): void => {
    log.info('stopping the engine');
    void engine.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

void main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});

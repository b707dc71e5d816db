/**
 * Structured JSON logging (pino). Loggers are created once in main.ts and injected; tests pass
 * a silent one. Never log document content or tokens: redact paths cover the usual places.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

/** A JSON logger on stdout at `level`. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'codex' },
    redact: { paths: ['token', '*.token', 'req.headers.authorization', 'url', '*.url'], censor: '[redacted]' },
  });
}

/** A logger that writes nothing. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

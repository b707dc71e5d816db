/**
 * `GET /api/runtimes` and `POST /api/execute` (CONTRACT.md "Piston-compatible HTTP API"): Piston's
 * `/api/v2/runtimes` list of the engine in use (cached, refreshed) and its `/api/v2/execute`,
 * validated, size-capped and rate-limited here, then relayed with Piston's own status and body.
 * Errors of our own carry both `error` (CodeX's convention) and `message` (Piston's, so Piston
 * clients show them).
 */
import type { IncomingMessage } from 'node:http';
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Config } from '../config.js';
import type { ExecEngine } from '../exec/engine.js';
import { RateLimiter } from '../exec/rate-limit.js';
import type { RuntimeCatalog } from '../exec/runtime-catalog.js';
import type { Logger } from '../log.js';

/** What the routes need. */
export interface RuntimesDeps {
  config: Config;
  engine: ExecEngine;
  catalog: RuntimeCatalog;
  log: Logger;
}

function ourError(ctx: Context, status: number, message: string): void {
  ctx.body = { error: message, message };
  ctx.status = status;
}

/** Reads at most `limit` bytes of the request body; null when it is longer. */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > limit) return null;
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

/**
 * Piston's first validation steps, with its exact messages and order (PISTON-API.md §3 steps 1-4),
 * so a bad request never reaches the engine and the answer is the one Piston would give.
 */
export function validateExecuteBody(body: unknown): string | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'the request body must be a JSON object';
  const o = body as Record<string, unknown>;
  if (typeof o.language !== 'string' || o.language === '') return 'language is required as a string';
  if (typeof o.version !== 'string' || o.version === '') return 'version is required as a string';
  if (!Array.isArray(o.files)) return 'files is required as an array';
  for (const [i, f] of o.files.entries()) {
    if (typeof f !== 'object' || f === null || typeof (f as { content?: unknown }).content !== 'string') {
      return `files[${i}].content is required as a string`;
    }
  }
  return null;
}

/** The routes. */
export function runtimesRoutes(deps: RuntimesDeps): Router {
  const { config, engine, catalog, log } = deps;
  const router = new Router();
  const perAddress = new RateLimiter(config.execRunsPerMinute, 60_000);
  // the files plus Piston's other fields; the files alone are checked against the cap below
  const bodyLimit = config.execMaxFilesBytes + config.execMaxStdinBytes + 64 * 1024;

  router.get('/api/runtimes', async (ctx) => {
    try {
      ctx.body = await catalog.list();
    } catch (err) {
      ourError(ctx, 503, `the execution engine is unavailable: ${(err as Error).message}`);
    }
  });

  router.post('/api/execute', async (ctx) => {
    if (!perAddress.take(ctx.ip)) {
      ctx.set('Retry-After', String(perAddress.retryAfter(ctx.ip)));
      return ourError(ctx, 429, 'too many execute requests from this address; try again later');
    }
    if (!(ctx.get('content-type') ?? '').toLowerCase().startsWith('application/json')) {
      ctx.body = { message: 'requests must be of type application/json' }; // Piston's 415, word for word
      ctx.status = 415;
      return;
    }
    const raw = await readBody(ctx.req, bodyLimit);
    if (raw === null) return ourError(ctx, 413, `the request body is larger than ${bodyLimit} bytes`);
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      return ourError(ctx, 400, `the request body is not valid JSON: ${(err as Error).message}`);
    }
    const problem = validateExecuteBody(body);
    if (problem) {
      ctx.body = { message: problem };
      ctx.status = 400;
      return;
    }
    const files = (body as { files: { content: string }[] }).files;
    const bytes = files.reduce((n, f) => n + Buffer.byteLength(f.content), 0);
    if (bytes > config.execMaxFilesBytes) {
      return ourError(ctx, 413, `the files are too large (${bytes} bytes; the limit is ${config.execMaxFilesBytes})`);
    }
    try {
      const res = await engine.execute(body);
      ctx.body = res.body;
      ctx.status = res.status;
    } catch (err) {
      log.warn({ err }, 'execute: engine unavailable');
      ourError(ctx, 503, `the execution engine is unavailable: ${(err as Error).message}`);
    }
  });
  return router;
}

/**
 * Piston's API in front of the engine (PISTON-API.md §2–§6): the Koa app for `/`, `/api/v2/runtimes`
 * and `/api/v2/execute`, and the `/api/v2/connect` WebSocket handler, with Piston's status codes,
 * bodies, frames and close codes. Deliberate differences are listed in docs/engine.md.
 */
import Koa from 'koa';
import { constants as osConstants } from 'node:os';
import type { IncomingMessage } from 'node:http';
import { WebSocket, type RawData } from 'ws';
import {
  PISTON_CLOSE, PISTON_INIT_TIMEOUT_MS, PISTON_SIGNALS, type PistonServerFrame, type StageResult,
} from '../piston/protocol.js';
import type { Engine } from './engine.js';
import type { Job } from './job.js';
import { publicRuntime } from './runtimes.js';
import { RequestError, validateJob } from './validate.js';
import { QueueClosedError } from './queue.js';

/** Largest request body accepted by `/api/v2/execute`. */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** Piston's banner (its api/package.json version; PISTON-API.md §1). */
export const PISTON_BANNER = { message: 'Piston v3.1.1' };

/** Legacy names in Piston's list, delivered as their Linux equivalents; those Linux lacks are accepted and ignored. */
const SIGNAL_ALIASES: Record<string, string> = { SIGCLD: 'SIGCHLD', SIGIOT: 'SIGABRT', SIGPOLL: 'SIGIO', SIGUNUSED: 'SIGSYS' };

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new RequestError(`request body exceeds ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The HTTP side of Piston's API. */
export function createPistonApp(engine: Engine): Koa {
  const app = new Koa();
  app.silent = true;
  app.use(async (ctx) => {
    const { method, path } = ctx;
    if (path.startsWith('/api/v2') && !['GET', 'HEAD', 'OPTIONS'].includes(method) && !ctx.get('content-type').startsWith('application/json')) {
      ctx.status = 415;
      ctx.body = { message: 'requests must be of type application/json' };
      return;
    }
    if (method === 'GET' && path === '/') {
      ctx.body = PISTON_BANNER;
    } else if (method === 'GET' && path === '/api/v2/runtimes') {
      ctx.body = engine.runtimes.map(publicRuntime);
    } else if (method === 'POST' && path === '/api/v2/execute') {
      await execute(engine, ctx);
    } else {
      ctx.status = 404;
      ctx.body = { message: 'Not Found' };
    }
  });
  return app;
}

async function execute(engine: Engine, ctx: Koa.Context): Promise<void> {
  try {
    const raw = await readBody(ctx.req);
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      // Piston answers a stack trace here (PISTON-API.md §2); we name the problem instead (§12)
      throw new RequestError(`request body is not valid JSON: ${(err as Error).message}`);
    }
    const spec = validateJob(body, engine.runtimes, engine.config);
    const problem = engine.problem();
    if (problem) {
      ctx.status = 503;
      ctx.body = { message: problem };
      return;
    }
    ctx.body = await engine.run(spec);
  } catch (err) {
    if (err instanceof RequestError) {
      ctx.status = 400;
      ctx.body = { message: err.message };
      return;
    }
    if (err instanceof QueueClosedError) {
      ctx.status = 503;
      ctx.body = { message: err.message };
      return;
    }
    engine.log.error({ err }, 'execute failed');
    ctx.status = 500;
    ctx.body = { message: 'the job could not be run' };
  }
}

/** Handles one `/api/v2/connect` socket (PISTON-API.md §6). */
export function handleConnect(engine: Engine, ws: WebSocket): void {
  let job: Job | null = null;
  let initialised = false;
  let closed = false;
  const send = (frame: PistonServerFrame): void => {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
  };
  const close = (c: { code: number; reason: string }): void => {
    if (closed) return;
    closed = true;
    clearTimeout(initTimer);
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(c.code, c.reason);
  };
  const fail = (message: string): void => {
    send({ type: 'error', message });
    close(PISTON_CLOSE.notifiedError);
  };
  const initTimer = setTimeout(() => { if (!initialised) close(PISTON_CLOSE.initTimeout); }, PISTON_INIT_TIMEOUT_MS);
  ws.on('close', () => {
    closed = true;
    clearTimeout(initTimer);
    job?.cancel(); // nobody is listening any more: end the job rather than let it run to its timeout
  });
  ws.on('error', () => undefined);

  const init = (msg: Record<string, unknown>): void => {
    if (initialised) {
      close(PISTON_CLOSE.alreadyInitialized);
      return;
    }
    initialised = true;
    clearTimeout(initTimer);
    let spec;
    try {
      spec = validateJob(msg, engine.runtimes, engine.config);
    } catch (err) {
      fail(err instanceof RequestError ? err.message : String(err));
      return;
    }
    const problem = engine.problem();
    if (problem) {
      fail(problem);
      return;
    }
    const exitFrame = (stage: 'compile' | 'run', r: StageResult): PistonServerFrame =>
      ({ type: 'exit', stage, code: r.code, signal: r.signal });
    // Piston sends `runtime` and the first `stage` in one tick; so do we, once the first process exists
    let announced = false;
    engine.run(spec, {
      stage: (stage) => {
        if (!announced) send({ type: 'runtime', language: spec.runtime.language, version: spec.runtime.version });
        announced = true;
        send({ type: 'stage', stage });
      },
      data: (stream, data) => send({ type: 'data', stream, data }),
      exit: (stage, r) => send(exitFrame(stage, r)),
    }, (j) => {
      job = j;
      if (closed) j.cancel();
    }).then(
      () => close(PISTON_CLOSE.jobCompleted),
      (err: unknown) => {
        if (closed) return;
        if (err instanceof RequestError) fail(err.message);
        else {
          engine.log.error({ err }, 'connect job failed');
          fail(err instanceof Error ? err.message : String(err));
        }
      },
    );
  };

  ws.on('message', (data: RawData, isBinary: boolean) => {
    if (closed) return;
    let msg: unknown;
    try {
      msg = JSON.parse(isBinary ? Buffer.from(data as Buffer).toString('utf8') : data.toString());
    } catch (err) {
      fail((err as Error).message);
      return;
    }
    if (msg === null) {
      fail("Cannot read properties of null (reading 'type')");
      return;
    }
    if (typeof msg !== 'object') return; // Piston reads `.type` of a string or number: undefined, ignored
    const m = msg as Record<string, unknown>;
    switch (m.type) {
      case 'init':
        init(m);
        return;
      case 'data':
        if (!initialised) return close(PISTON_CLOSE.notInitialized);
        if (m.stream !== 'stdin') return close(PISTON_CLOSE.onlyStdin);
        if (typeof m.data === 'string') job?.writeStdin(m.data);
        return;
      case 'signal': {
        if (!initialised) return close(PISTON_CLOSE.notInitialized);
        if (typeof m.signal !== 'string' || !PISTON_SIGNALS.includes(m.signal)) return close(PISTON_CLOSE.invalidSignal);
        const linux = SIGNAL_ALIASES[m.signal] ?? m.signal;
        if (linux in osConstants.signals) job?.signal(linux as NodeJS.Signals);
        return;
      }
      default:
        return; // unknown types are ignored, as in Piston
    }
  });
}

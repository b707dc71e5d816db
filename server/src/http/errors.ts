/** HTTP errors as JSON `{"error": "…"}` with the fitting status (CONTRACT.md "Rooms"). */
import type { Middleware } from 'koa';
import type { Logger } from '../log.js';

/** An error whose message is safe to show the client, with its HTTP status. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Turns thrown errors into JSON answers; unexpected ones become 500 and are logged once. */
export function errorMiddleware(log: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        ctx.status = 404;
        ctx.body = { error: `no route for ${ctx.method} ${ctx.path}` };
      }
    } catch (err) {
      if (err instanceof HttpError) {
        ctx.status = err.status;
        ctx.body = { error: err.message };
        return;
      }
      // koa-body and friends throw errors carrying `status` and `expose`.
      const e = err as { status?: unknown; expose?: unknown; message?: unknown };
      if (typeof e.status === 'number' && e.status >= 400 && e.status < 500 && e.expose === true) {
        ctx.status = e.status;
        ctx.body = { error: String(e.message) };
        return;
      }
      log.error({ err, method: ctx.method, path: ctx.path }, 'request failed');
      ctx.status = 500;
      ctx.body = { error: 'internal server error' };
    }
  };
}

/** The Koa application: middleware and routes, never listening itself (server.ts does). */
import Koa from 'koa';
import type Router from '@koa/router';
import type { Middleware } from 'koa';
import type { Logger } from '../log.js';
import { errorMiddleware } from './errors.js';

/** What the app is built from: route groups in order, then an optional fallback (the static client). */
export interface AppDeps {
  log: Logger;
  routers: readonly Router[];
  fallback?: Middleware;
  /** trust X-Forwarded-For (behind a load balancer) */
  proxy?: boolean;
}

/** Builds the Koa app. */
export function createApp(deps: AppDeps): Koa {
  // maxIpsCount 1: ctx.ip is the X-Forwarded-For entry the nearest proxy added (see client-address.ts).
  const app = new Koa({ proxy: deps.proxy ?? false, maxIpsCount: 1 });
  app.silent = true; // errors are logged by errorMiddleware, once
  app.use(errorMiddleware(deps.log));
  app.use(async (ctx, next) => {
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    await next();
  });
  for (const r of deps.routers) {
    app.use(r.routes());
    app.use(r.allowedMethods());
  }
  if (deps.fallback) app.use(deps.fallback);
  return app;
}

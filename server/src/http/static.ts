/**
 * Serves the built client (`client/dist`). Any GET that is not an API path and not a file
 * falls back to index.html, so `/r/<id>?token=…` opens the room page.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Middleware } from 'koa';
import send from 'koa-send';

const API_PREFIXES = ['/api/', '/yjs/', '/healthz', '/readyz', '/metrics'];

/** Static files from `root` with a single-page-app fallback; a clear 503 when the client is not built. */
export function staticClient(root: string): Middleware {
  const index = path.join(root, 'index.html');
  return async (ctx, next) => {
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || API_PREFIXES.some((p) => ctx.path.startsWith(p))) {
      return next();
    }
    if (!existsSync(index)) {
      ctx.status = 503;
      ctx.body = { error: 'the client is not built: run `npm run build`' };
      return;
    }
    const isAsset = ctx.path.startsWith('/assets/');
    try {
      const served = await send(ctx, ctx.path, {
        root,
        index: 'index.html',
        immutable: isAsset,
        maxage: isAsset ? 365 * 24 * 3600 * 1000 : 0,
        brotli: false,
        gzip: true,
      });
      if (served) return;
    } catch (err) {
      if ((err as { status?: number }).status !== 404) throw err;
    }
    if (isAsset || path.extname(ctx.path) !== '') return next();
    await send(ctx, 'index.html', { root });
  };
}

/** `/healthz`, `/readyz` and `/metrics` (CONTRACT.md "Operations"). */
import Router from '@koa/router';
import type { Metrics } from '../metrics.js';

/** One dependency the server needs to be ready; `check` resolves to null when fine, else the reason. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<string | null>;
  /** optional detail shown under `details.<name>` whatever the outcome (e.g. each engine instance) */
  details?(): unknown;
}

/** Routes for liveness, readiness and Prometheus metrics. */
export function healthRoutes(metrics: Metrics, checks: readonly ReadinessCheck[]): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const results = await Promise.all(
      checks.map(async (c) => {
        try {
          return { name: c.name, problem: await c.check() };
        } catch (err) {
          return { name: c.name, problem: (err as Error).message };
        }
      }),
    );
    const failed = results.filter((r) => r.problem !== null);
    ctx.status = failed.length === 0 ? 200 : 503;
    ctx.body = {
      status: failed.length === 0 ? 'ready' : 'not ready',
      checks: Object.fromEntries(results.map((r) => [r.name, r.problem ?? 'ok'])),
      ...(checks.some((c) => c.details) ? { details: Object.fromEntries(checks.flatMap((c) => (c.details ? [[c.name, c.details()]] : []))) } : {}),
      ...(failed.length > 0 ? { error: failed.map((r) => `${r.name}: ${r.problem}`).join('; ') } : {}),
    };
  });
  router.get('/metrics', async (ctx) => {
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });
  return router;
}

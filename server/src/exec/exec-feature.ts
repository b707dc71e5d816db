/**
 * The shared-execution feature as server.ts plugs it in: the engine (the embedded one on loopback
 * when `PISTON_URL` is unset, else a pool of the given instances, both behind the one Piston
 * client), the `/api/exec/` upgrade route, the runtimes/execute routes, the `engine` readiness
 * check and two shutdown steps (end runs before rooms flush; close the engine after).
 */
import type Router from '@koa/router';
import type { Config } from '../config.js';
import type { ReadinessCheck } from '../http/health.js';
import { runtimesRoutes } from '../http/runtimes.js';
import type { ShutdownStep } from '../lifecycle/shutdown.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { UpgradeRoute } from '../ws/upgrade.js';
import type { ExecEngine, InstanceStatus } from './engine.js';
import { createExecChannel, runDeadlineMs, type ExecChannel, type ExecTuning } from './exec-channel.js';
import { PistonPool } from './piston/piston-pool.js';
import { roomPortFromRegistry, type RoomsLike } from './room-port.js';
import type { RunSharing } from './run-mirror.js';
import { RuntimeCatalog, pick } from './runtime-catalog.js';
import { DeferredEngine } from './deferred-engine.js';

const sleep = (ms: number): Promise<null> => new Promise((r) => setTimeout(() => r(null), ms).unref());

/** The embedded engine as started by server.ts (`startEmbeddedEngine`). */
export interface EmbeddedEngineHandle {
  url: string;
  problem(): string | null;
  close(): Promise<void> | void;
}

/** What the feature needs. */
export interface ExecFeatureDeps {
  config: Config;
  log: Logger;
  metrics: Metrics;
  rooms: RoomsLike;
  /** starts the embedded engine on loopback; used when `config.pistonUrls` is unset */
  startEmbedded(): Promise<EmbeddedEngineHandle>;
  tuning?: ExecTuning;
  /** languages the engine must have for the server to be ready (new rooms' default language) */
  requiredLanguages?: readonly string[];
  /** runs shared across instances (CODEX_REDIS_URL): one instance drives, the others mirror */
  sharing?: RunSharing;
}

/** The pieces server.ts wires in. */
export interface ExecFeature {
  engine: ExecEngine;
  channel: ExecChannel;
  route: UpgradeRoute;
  router: Router;
  readiness: ReadinessCheck;
  /** ends running runs with `done` to all and stores their summaries: run BEFORE the rooms flush */
  endRuns: ShutdownStep;
  /** closes engine connections and the embedded engine: run after */
  closeEngine: ShutdownStep;
}

/** The Piston client options for instances that do (embedded) or do not (real Piston) honour signals. */
function poolOptions(config: Config, signalsWork: boolean) {
  return {
    // The embedded engine honours signals; a real Piston ignores them (PISTON-API.md §6).
    signalsWork,
    connectTimeoutMs: 5000,
    answerTimeoutMs: 30_000,
    deadlineMs: runDeadlineMs(config),
    stopGraceMs: 2000,
    requestTimeoutMs: 5000,
  };
}

/**
 * Builds the feature. Without `PISTON_URL` the embedded engine starts in the background: the
 * server listens at once and a run waits for the engine (readiness says it is starting).
 */
export async function createExecFeature(deps: ExecFeatureDeps): Promise<ExecFeature> {
  const { config, log, metrics } = deps;
  let embedded: EmbeddedEngineHandle | null = null;
  let embeddedStart: Promise<EmbeddedEngineHandle> | null = null;
  let engine: ExecEngine;
  if (config.pistonUrls) {
    engine = new PistonPool(config.pistonUrls, poolOptions(config, false));
  } else {
    embeddedStart = deps.startEmbedded();
    embeddedStart.then(
      (e) => (embedded = e),
      (err: unknown) => log.error({ err }, 'the embedded engine did not start'),
    );
    engine = new DeferredEngine(embeddedStart.then((e) => new PistonPool([e.url], poolOptions(config, true))));
  }
  const catalog = new RuntimeCatalog(engine);
  let lastStatus: InstanceStatus[] = [];
  const channel = createExecChannel(
    {
      config, engine, catalog, port: roomPortFromRegistry(deps.rooms), log: log.child({ feature: 'exec' }), metrics,
      ...(deps.sharing ? { sharing: deps.sharing } : {}),
    },
    deps.tuning,
  );
  return {
    engine,
    channel,
    route: { prefix: '/api/exec/', handle: (req, socket, head, rest, url) => channel.handleUpgrade(req, socket, head, rest, url) },
    router: runtimesRoutes({ config, engine, catalog, log }),
    readiness: {
      name: 'engine',
      // every instance as of the last probe: url, problem (null when it answers), active runs
      details: () => lastStatus,
      async check() {
        // a readiness probe right after start waits briefly for the embedded engine's probes
        if (embeddedStart && !embedded) await Promise.race([embeddedStart.catch(() => null), sleep(3000)]);
        const own = embedded?.problem() ?? null;
        if (own) return own;
        const all = await engine.status();
        lastStatus = all;
        // Ready while one instance answers; the reason names every instance that does not.
        if (!all.some((s) => s.problem === null)) return all.map((s) => s.problem).join('; ');
        // the engine answers, but a room could not run: say which language is missing
        const list = await catalog.list().catch(() => null);
        if (!list) return null;
        const missing = (deps.requiredLanguages ?? []).filter((l) => !pick(list, l, '*'));
        if (missing.length === 0) return null;
        const have = list.map((r) => r.language).join(', ') || 'none';
        return `the engine has no runtime for ${missing.join(', ')} (it has: ${have})`;
      },
    },
    endRuns: { name: 'end running runs', run: () => channel.shutdown() },
    closeEngine: {
      name: 'close the execution engine',
      run: async () => {
        engine.close();
        // a start still under way is given a moment, then closed too
        const started = embedded ?? (embeddedStart ? await Promise.race([embeddedStart.catch(() => null), sleep(2000)]) : null);
        await started?.close();
      },
    },
  };
}

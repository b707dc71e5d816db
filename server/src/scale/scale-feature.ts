/**
 * How the server picks its storage and whether rooms are shared: the one place that reads
 * `config.databaseUrl` and `config.redisUrl`. Without either it is the single-machine default
 * (SQLite in `CODEX_DATA_DIR`, rooms in this process only), exactly as before scale-out existed.
 *
 * - `CODEX_DATABASE_URL` alone: rooms, tokens and history live in PostgreSQL; rooms are still
 *   per instance (only one instance should serve them).
 * - `CODEX_REDIS_URL` too: every instance keeps a replica of a room while it has peers in it, kept
 *   in step through Redis Streams, stored by whichever instance holds the room's lease.
 * - `CODEX_REDIS_URL` without `CODEX_DATABASE_URL` is refused: replicas that load and store the
 *   same room from different SQLite files would silently diverge.
 */
import { mkdirSync } from 'node:fs';
import type { Config } from '../config.js';
import type { ReadinessCheck } from '../http/health.js';
import type { Logger } from '../log.js';
import { openSqliteStore } from '../rooms/store/sqlite-store.js';
import type { RoomStore } from '../rooms/store/store.js';
// Type-only: the PostgreSQL and Redis modules (pg, ioredis: about 5 MB of heap) are imported
// only when configured, so a single-machine server does not carry them (a smaller heap means
// shorter garbage-collection pauses on the sync path).
import type { PostgresRoomStore } from './postgres-store.js';
import type { SharedRooms } from './shared-rooms.js';
import type { SharedRuns } from './shared-runs.js';

/** Storage and (optionally) the shared-rooms service, as chosen by the config. */
export interface RoomStorage {
  store: RoomStore;
  /** the PostgreSQL store when `databaseUrl` is set */
  postgres?: PostgresRoomStore;
  /** the shared-rooms service when `redisUrl` is set */
  shared?: SharedRooms;
  /** the run relay (one run, one driver) when `redisUrl` is set */
  runs?: SharedRuns;
  /** readiness checks: `storage`, and `redis` when shared */
  readiness: ReadinessCheck[];
  /** closes the run relay and the shared-rooms service (after the registry closed its rooms and the store) */
  closeShared(): Promise<void>;
}

/** Options for tests: shorter leases and flushes than production defaults. */
export interface RoomStorageTuning {
  leaseTtlMs?: number;
  flushDelayMs?: number;
  trimGraceMs?: number;
  runLeaseTtlMs?: number;
}

/** Thrown at start for a combination of options that cannot work. */
export class ScaleConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScaleConfigError';
  }
}

/** Opens the store the config asks for, and the shared-rooms service if Redis is configured. */
export async function openRoomStorage(config: Config, log: Logger, tuning: RoomStorageTuning = {}): Promise<RoomStorage> {
  if (config.redisUrl !== undefined && config.databaseUrl === undefined) {
    throw new ScaleConfigError('CODEX_REDIS_URL needs CODEX_DATABASE_URL: shared rooms must load and store from one shared PostgreSQL');
  }
  if (config.databaseUrl === undefined) {
    mkdirSync(config.dataDir, { recursive: true });
    const store = openSqliteStore({ dataDir: config.dataDir });
    return { store, readiness: [{ name: 'storage', check: () => store.check() }], closeShared: async () => undefined };
  }
  const { openPostgresStore } = await import('./postgres-store.js');
  const postgres = await openPostgresStore({ connectionString: config.databaseUrl }).catch((err: unknown) => {
    throw new Error(`PostgreSQL (CODEX_DATABASE_URL, ${redacted(config.databaseUrl)}) is not usable: ${message(err)}`, { cause: err });
  });
  const readiness: ReadinessCheck[] = [{ name: 'storage', check: () => postgres.check() }];
  if (config.redisUrl === undefined) {
    log.info('rooms stored in PostgreSQL (not shared: CODEX_REDIS_URL is unset)');
    return { store: postgres, postgres, readiness, closeShared: async () => undefined };
  }
  const [{ createSharedRooms }, { createSharedRuns }] = await Promise.all([import('./shared-rooms.js'), import('./shared-runs.js')]);
  let shared: SharedRooms;
  try {
    shared = await createSharedRooms({
      redisUrl: config.redisUrl,
      store: postgres,
      log: log.child({ feature: 'scale' }),
      trimGraceMs: tuning.trimGraceMs,
      persister: { leaseTtlMs: tuning.leaseTtlMs, flushDelayMs: tuning.flushDelayMs },
    });
  } catch (err) {
    await postgres.close();
    throw new Error(`Redis (CODEX_REDIS_URL, ${redacted(config.redisUrl)}) is not usable: ${message(err)}`, { cause: err });
  }
  let runs: SharedRuns;
  try {
    runs = await createSharedRuns({
      redisUrl: config.redisUrl, instanceId: shared.instanceId, log: log.child({ feature: 'scale' }), leaseTtlMs: tuning.runLeaseTtlMs,
    });
  } catch (err) {
    await shared.close();
    await postgres.close();
    throw err;
  }
  readiness.push({ name: 'redis', check: () => shared.check() });
  log.info({ instance: shared.instanceId }, 'rooms shared across instances through Redis, stored in PostgreSQL');
  return {
    store: postgres, postgres, shared, runs, readiness,
    closeShared: async () => {
      await runs.close();
      await shared.close();
    },
  };
}

/** A URL without its password, for messages. */
function redacted(url: string | undefined): string {
  try {
    const u = new URL(url ?? '');
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'an invalid URL';
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

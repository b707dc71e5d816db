/**
 * The run relay of one instance, ready for the exec channel: its own bus on the rooms' `exec`
 * streams (capped short: only the last runs matter to late joiners), a commands connection for
 * the `run` leases, and handlers the exec channel sets once it exists (the channel is built after
 * this service, and the relay needs somewhere to send frames from the start).
 */
import type { DoneFrame } from '@codex/shared';
import { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { createRedisRoomBus } from './redis-room-bus.js';
import { createRunRelay, type RelayedFrame, type RunRelay } from './run-relay.js';

/** What the exec channel receives from the relay. */
export interface SharedRunHandlers {
  onFrame(room: string, frame: RelayedFrame): void;
  onTakenOver(room: string, done: DoneFrame): void;
}

/** The relay plus the channel hook-up and shutdown. */
export interface SharedRuns extends Pick<RunRelay, 'watch' | 'unwatch' | 'drive' | 'forward'> {
  /** where frames go (set by the exec channel); frames before that are dropped */
  setHandlers(handlers: SharedRunHandlers): void;
  /** releases held run leases and closes both Redis connections; idempotent */
  close(): Promise<void>;
}

/** Options of {@link createSharedRuns}. */
export interface SharedRunsOptions {
  redisUrl: string;
  instanceId: string;
  log: Logger;
  /** run lease TTL: a dead driver is noticed within about this plus `watchEveryMs` */
  leaseTtlMs?: number;
  watchEveryMs?: number;
  /** cap of each room's exec stream (entries) */
  maxLen?: number;
}

/** Connects the exec bus and the lease connection and returns the relay. */
export async function createSharedRuns(opts: SharedRunsOptions): Promise<SharedRuns> {
  const log = opts.log.child({ scope: 'shared-runs' });
  let handlers: SharedRunHandlers | undefined;
  let relay: RunRelay | undefined;
  const bus = await createRedisRoomBus({
    redisUrl: opts.redisUrl,
    instanceId: opts.instanceId,
    channel: 'exec',
    log,
    maxLen: opts.maxLen ?? 5_000,
    listener: {
      message: (msg) => relay?.receive(msg),
      // an exec stream that Redis lost has nothing to reload: runs end by lease expiry if needed
      resync: (room, reason) => log.info({ room, reason }, 'exec stream reset'),
    },
  });
  const redis = new Redis(opts.redisUrl);
  redis.on('error', (err: Error) => log.debug({ err: err.message }, 'redis (run leases) error'));
  relay = createRunRelay({
    bus,
    redis,
    instanceId: opts.instanceId,
    log,
    leaseTtlMs: opts.leaseTtlMs,
    watchEveryMs: opts.watchEveryMs,
    onFrame: (room, frame) => handlers?.onFrame(room, frame),
    onTakenOver: (room, done) => handlers?.onTakenOver(room, done),
  });
  const r = relay;
  let closing: Promise<void> | undefined;
  return {
    watch: (room) => r.watch(room),
    unwatch: (room) => r.unwatch(room),
    drive: (room, run, onInput) => r.drive(room, run, onInput),
    forward: (room, input) => r.forward(room, input),
    setHandlers(h) {
      handlers = h;
    },
    close() {
      closing ??= (async () => {
        await r.close();
        await bus.close();
        if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
        else redis.disconnect();
      })();
      return closing;
    },
  };
}

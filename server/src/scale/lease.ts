/**
 * A lease in Redis with a fencing token: "one run, one driver" and "compaction by whichever
 * instance holds a short lease". The holder's value is `<owner>|<token>`; it expires after its
 * TTL unless renewed, so a dead instance loses it on its own. Renewal and release are Lua
 * scripts that act only if the value is still ours (a holder that paused past its TTL cannot
 * extend or delete its successor's lease).
 *
 * The token comes from INCR on `<key>:fence`, floored to the Redis clock in ms: it grows with
 * every grant, and still grows after a Redis restart that lost the counter (as long as the Redis
 * host's clock does not step back). Whatever the holder writes elsewhere carries the token, and
 * the writer refuses a token older than one it has seen (postgres-store.ts `compactFenced`):
 * a lease alone cannot stop a paused ex-holder, the fence does.
 */
import type { Redis } from 'ioredis';
import { runScript } from './redis-script.js';

/** KEYS: lease, fence. ARGV: owner, ttlMs. Returns the token, or nil if someone else holds it. */
const ACQUIRE_LUA = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local owner, token = string.match(cur, '^(.*)|(%d+)$')
  if owner == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return token
  end
  return false
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local token = redis.call('INCR', KEYS[2])
if token < now then
  token = now
  redis.call('SET', KEYS[2], string.format('%d', now))
end
local s = string.format('%d', token)
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. s, 'PX', ARGV[2])
return s`;

/** KEYS: lease. ARGV: value, ttlMs. 1 if renewed, 0 if no longer ours. */
const RENEW_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`;

/** KEYS: lease. ARGV: value. 1 if released, 0 if no longer ours. */
const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

/** The key of a room's lease for `purpose` (same hash slot as the room's stream). */
export function roomLeaseKey(room: string, purpose: 'run' | 'compact'): string {
  return `codex:room:{${room}}:lease:${purpose}`;
}

/** Who holds a lease. */
export interface LeaseHolder {
  owner: string;
  token: number;
}

/** One lease key seen from one owner. */
export interface RedisLease {
  readonly key: string;
  readonly owner: string;
  readonly ttlMs: number;
  /** takes the lease if free (or already ours: TTL refreshed); resolves to the fencing token, or null if held */
  acquire(): Promise<number | null>;
  /** extends the TTL if the lease is still ours with `token`; false if it is not */
  renew(token: number): Promise<boolean>;
  /** gives the lease up if still ours with `token`; false if it was not */
  release(token: number): Promise<boolean>;
  /** the current holder, or null if free */
  holder(): Promise<LeaseHolder | null>;
}

/** A lease handle for `owner` on `key`, over the given client (shared with other commands). */
export function redisLease(redis: Redis, opts: { key: string; owner: string; ttlMs: number }): RedisLease {
  const { key, owner, ttlMs } = opts;
  if (owner.includes('|')) throw new Error('lease owner must not contain "|"');
  if (!Number.isInteger(ttlMs) || ttlMs <= 0) throw new Error('lease ttlMs must be a positive integer');
  const value = (token: number): string => `${owner}|${token}`;
  return {
    key,
    owner,
    ttlMs,
    async acquire() {
      const token = await runScript(redis, ACQUIRE_LUA, [key, `${key}:fence`], [owner, ttlMs]);
      return token === null ? null : Number(token);
    },
    async renew(token) {
      return Number(await runScript(redis, RENEW_LUA, [key], [value(token), ttlMs])) === 1;
    },
    async release(token) {
      return Number(await runScript(redis, RELEASE_LUA, [key], [value(token)])) === 1;
    },
    async holder() {
      const cur = await redis.get(key);
      const m = cur === null ? null : /^(.*)\|(\d+)$/.exec(cur);
      return m?.[1] !== undefined && m[2] !== undefined ? { owner: m[1], token: Number(m[2]) } : null;
    },
  };
}

/** A lease being held and renewed in the background. */
export interface HeldLease {
  readonly token: number;
  /** true while the lease is surely ours: not lost, and confirmed by Redis less than a TTL ago */
  valid(): boolean;
  /** stops renewing and releases it; idempotent */
  release(): Promise<void>;
}

/** Why a held lease ended without `release()`. */
export type LeaseLostReason = 'taken' | 'unconfirmed';

/**
 * Acquires `lease` and renews it every TTL/3. `onLost` is called once if a renewal finds it no
 * longer ours ('taken') or Redis has not confirmed it for a whole TTL ('unconfirmed', e.g. Redis
 * down): from then on the holder must stop acting on it. Resolves to null if someone else holds it.
 */
export async function holdLease(
  lease: RedisLease,
  onLost: (reason: LeaseLostReason) => void,
  now: () => number = Date.now,
): Promise<HeldLease | null> {
  const started = now();
  const token = await lease.acquire();
  if (token === null) return null;
  // measured from before the request: the TTL may have started any time after it was sent
  let confirmedAt = started;
  let state: 'held' | 'lost' | 'released' = 'held';
  let renewing = false;

  const lose = (reason: LeaseLostReason): void => {
    if (state !== 'held') return;
    state = 'lost';
    clearInterval(timer);
    onLost(reason);
  };

  const timer = setInterval(() => {
    if (now() - confirmedAt >= lease.ttlMs) return lose('unconfirmed');
    if (renewing) return;
    renewing = true;
    const sent = now();
    lease
      .renew(token)
      .then((ok) => {
        if (!ok) return lose('taken');
        confirmedAt = Math.max(confirmedAt, sent);
      })
      .catch(() => {
        if (now() - confirmedAt >= lease.ttlMs) lose('unconfirmed');
      })
      .finally(() => {
        renewing = false;
      });
  }, Math.max(1, Math.floor(lease.ttlMs / 3)));
  timer.unref();

  return {
    token,
    valid: () => state === 'held' && now() - confirmedAt < lease.ttlMs,
    async release() {
      if (state === 'released') return;
      const wasHeld = state === 'held';
      state = 'released';
      clearInterval(timer);
      if (wasHeld) await lease.release(token).catch(() => false);
    },
  };
}

/**
 * The test helpers themselves: a private redis-server and PostgreSQL cluster start on loopback,
 * answer, restart (redis) and clean up. Every other scale test builds on these.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type TestPostgres } from './helpers/postgres.js';
import { startRedis, type TestRedis } from './helpers/redis.js';

describe('redis helper', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('answers on 127.0.0.1 and loses its data on restart (no persistence)', async () => {
    const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await client.connect();
    await client.set('k', 'v');
    expect(await client.get('k')).toBe('v');
    client.disconnect();
    await redis.restart();
    const again = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await again.connect();
    expect(await again.get('k')).toBeNull();
    again.disconnect();
  });
});

describe('postgres helper', () => {
  let pgs: TestPostgres;
  beforeAll(async () => {
    pgs = await startPostgres();
  });
  afterAll(async () => {
    await pgs.stop();
    await pgs.stop(); // idempotent
  });

  it('answers queries and hands out fresh databases', async () => {
    const a = await pgs.freshDatabase();
    const b = await pgs.freshDatabase();
    expect(a).not.toBe(b);
    const client = new pg.Client({ connectionString: a });
    await client.connect();
    const res = await client.query<{ one: number }>('SELECT 1 AS one');
    expect(res.rows[0]?.one).toBe(1);
    await client.end();
  });
});

/**
 * Test helpers for several CodeX instances sharing rooms: a real in-process server wired to a
 * Redis and a PostgreSQL (with short leases so takeovers happen within a test's patience), and a
 * tiny TCP load balancer that sends each new connection to the first backend that accepts it, so
 * a provider whose instance died reconnects to another one, as behind nginx.
 */
import net from 'node:net';
import type { Config } from '../../src/config.js';
import { startServer, type TestServer } from './start-server.js';

/** Where the shared instances meet. */
export interface SharedBackends {
  redisUrl: string;
  databaseUrl: string;
}

/** An unreachable engine: these tests are about documents; no sandbox is started. */
export const NO_ENGINE: Partial<Config> = { pistonUrls: ['http://127.0.0.1:9'] };

/** Starts an in-process instance on 127.0.0.1:0 sharing rooms through `backends`. */
export function startSharedServer(backends: SharedBackends, overrides: Partial<Config> = {}): Promise<TestServer> {
  return startServer(
    { ...NO_ENGINE, ...overrides, redisUrl: backends.redisUrl, databaseUrl: backends.databaseUrl },
    {
      // The trim grace is what keeps a live reader on another instance from being trimmed past (it
      // is at most a read behind); with 0 the storing instance would trim entries the others have
      // not read yet whenever they lag a few ms, which production (30 s) never does. 1 s keeps that
      // guarantee on a loaded test machine and still trims within the tests.
      scaleTuning: { leaseTtlMs: 600, flushDelayMs: 20, trimGraceMs: 1_000 },
    },
  );
}

/** A TCP balancer on 127.0.0.1 in front of several instances. */
export interface TestBalancer {
  /** `ws://127.0.0.1:<port>` */
  wsUrl: string;
  /** for each accepted connection, the backend port it was sent to, in order */
  readonly routed: number[];
  close(): Promise<void>;
}

/**
 * Starts the balancer: every new connection goes to the first of `backends()` that accepts a TCP
 * connection (a dead instance refuses, so the next one gets it). Bytes are piped unchanged, so
 * WebSocket upgrades pass through as they would through nginx.
 */
export async function startBalancer(backends: () => number[]): Promise<TestBalancer> {
  const routed: number[] = [];
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    open.add(client);
    client.once('close', () => open.delete(client));
    client.on('error', () => undefined);
    client.pause();
    const ports = backends();
    const tryNext = (i: number): void => {
      const port = ports[i];
      if (port === undefined || client.destroyed) return void client.destroy();
      const upstream = net.connect(port, '127.0.0.1');
      let connected = false;
      upstream.on('error', () => (connected ? client.destroy() : tryNext(i + 1)));
      upstream.once('connect', () => {
        connected = true;
        routed.push(port);
        open.add(upstream);
        upstream.once('close', () => {
          open.delete(upstream);
          client.destroy();
        });
        client.once('close', () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    tryNext(0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    wsUrl: `ws://127.0.0.1:${port}`,
    routed,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}

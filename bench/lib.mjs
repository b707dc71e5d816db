// Plumbing every benchmark shares: ports, waiting for a server, per-process CPU and RSS from
// /proc, percentiles, and the provider worker processes (bench/sync-worker.mjs).
import { fork } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A loopback port that was free a moment ago. */
export const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

/** Resolves once `url` answers 2xx; throws after `ms`. */
export async function waitHttp(url, ms = 60_000) {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > end) throw new Error(`${url} did not come up in ${ms} ms`);
    await sleep(50);
  }
}

/** CPU ms of every thread of `pid` (schedstat: nanoseconds, unlike the 10 ms ticks of /proc/pid/stat). */
export function cpuMs(pid) {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // thread ended meanwhile
    }
  }
  return ns / 1e6;
}

/** Resident set size of `pid` in bytes. */
export const rssBytes = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;

/** CPU ms and RSS bytes of `pid`. */
export const procStats = (pid) => ({ cpuMs: cpuMs(pid), rss: rssBytes(pid) });

/** The p-th percentile (nearest rank) of `xs`; NaN when empty. */
export function pct(xs, p) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
export const median = (xs) => pct(xs, 50);

/** `n` worker processes holding y-websocket providers; each answers `call(cmd, args)` over IPC. */
export function startWorkers(n) {
  return Promise.all(
    Array.from({ length: n }, () => {
      const w = fork(path.join(ROOT, 'bench/sync-worker.mjs'), { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const waiting = new Map();
      let next = 0;
      w.on('message', (m) => {
        if (m.ready) return;
        const p = waiting.get(m.id);
        waiting.delete(m.id);
        if (m.ok) p.resolve(m);
        else p.reject(new Error(m.error));
      });
      const call = (cmd, args = {}) =>
        new Promise((resolve, reject) => {
          const id = next++;
          waiting.set(id, { resolve, reject });
          w.send({ id, cmd, ...args });
        });
      return new Promise((resolve) => w.once('message', () => resolve({ call, kill: () => w.kill() })));
    }),
  );
}

// `npm run bench:scale`: fan-out latency and CPU per update when a room's readers are spread over
// two CodeX instances sharing rooms through Redis + PostgreSQL, beside one instance alone (the
// single-machine default, SQLite), in the same run. Real servers (`node server/dist/main.js`),
// real y-websocket providers in worker processes (bench/sync-worker.mjs), a private redis-server
// and PostgreSQL started here (bench/scale-backends.mjs).
//
// Configurations:
//   single        one instance, default storage (SQLite): the reference
//   single+redis  one instance with CODEX_REDIS_URL + CODEX_DATABASE_URL (the bus's own cost)
//   two           instances A and B sharing rooms; the writer on A, half the readers on A and
//                 half on B; B's readers are the cross-instance ones
// Goal: cross-instance p99 ≤ 2 × single-instance p99. Exits 1 on loss or divergence.
// Env: BENCH_QUICK=1 (short run), BENCH_READERS=10,100 (reader counts), BENCH_ROUNDS=3.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, cpuMs, freePort, pct, sleep, startWorkers } from './lib.mjs';
import { startBackends } from './scale-backends.mjs';
import { relayThroughput } from './scale-relay.mjs';

const QUICK = process.env.BENCH_QUICK === '1';
const READERS = (process.env.BENCH_READERS ?? (QUICK ? '10' : '10,100')).split(',').map(Number);
const UPDATES = QUICK ? 50 : 100; // per round, one every 20 ms
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 1 : 3));
const RELAY_LINES = QUICK ? 2_000 : 10_000;
const INTERVAL_MS = 20;
const READER_WORKERS = 4;
const problems = [];

const cpuOf = (pids) => pids.reduce((s, p) => s + cpuMs(p), 0);

/** A redis-server pid listening on the URL's port, if it runs on this machine (for its CPU). */
function redisPid(redisUrl) {
  const port = new URL(redisUrl).port;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes('redis-server') && cmd.includes(port)) return Number(pid);
    } catch {
      // gone
    }
  }
  return undefined;
}

async function startInstance(env) {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'codex-bench-scale-'));
  const child = spawn(process.execPath, ['server/dist/main.js'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env, HOST: '127.0.0.1', PORT: String(port), CODEX_DATA_DIR: dataDir, CODEX_LOG_LEVEL: 'warn',
      CODEX_MAX_ROOMS_PER_ADDRESS: '100000', CODEX_ROOM_CREATES_PER_MINUTE: '100000', CODEX_MAX_PEERS_PER_ROOM: '10000',
      // document sync only: no execution engine in these processes (never contacted)
      PISTON_URL: 'http://127.0.0.1:9',
      ...env,
    },
  });
  const http = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${http}/healthz`)).ok) break;
    } catch {
      if (child.exitCode !== null || i > 400) throw new Error(`instance on ${port} did not start`);
    }
    await sleep(50);
  }
  return {
    child,
    http,
    ws: `ws://127.0.0.1:${port}/yjs`,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * One fan-out: a writer on instances[0], `readers` providers spread over the instances (reader
 * workers are assigned round-robin to instances). Returns latencies per instance and CPU.
 */
async function fanout(label, instances, workers, readers, extraPids) {
  const res = await fetch(`${instances[0].http}/api/rooms`, { method: 'POST' });
  if (res.status !== 201) throw new Error(`POST /api/rooms ${res.status}`);
  const room = await res.json();
  const target = (inst, token) => ({ url: inst.ws, room: room.id, token });
  const [writer, ...readerWorkers] = workers;
  const per = Math.ceil(readers / readerWorkers.length);
  const placement = readerWorkers.map((_, i) => i % instances.length);
  await Promise.all(readerWorkers.map((w, i) => {
    const count = Math.max(0, Math.min(per, readers - i * per));
    return count > 0 ? w.call('readers', { target: target(instances[placement[i]], room.viewerToken), count }) : null;
  }));
  const pids = [...instances.map((i) => i.child.pid), ...extraPids];
  await sleep(1000); // the readers' joins settle before the measurement
  const before = cpuOf(pids);
  await writer.call('writer', { target: target(instances[0], room.editorToken), name: 'w', intervalMs: INTERVAL_MS, updates: UPDATES });
  await sleep(1500); // drain
  const cpu = cpuOf(pids) - before;
  const reports = await Promise.all(workers.map((w) => w.call('report')));
  await Promise.all(workers.map((w) => w.call('close')));
  const byInstance = instances.map(() => []);
  reports.slice(1).forEach((r, i) => byInstance[placement[i]].push(...r.latencies));
  const all = byInstance.flat();
  const lost = readers * UPDATES - all.length;
  if (lost !== 0) problems.push(`${label}, ${readers} readers: ${lost} update(s) lost`);
  const hashes = new Set(reports.flatMap((r) => r.peers.map((p) => p.hash)));
  if (hashes.size > 1) problems.push(`${label}, ${readers} readers: providers diverged`);
  const stats = (xs) => ({ p50: pct(xs, 50), p99: pct(xs, 99), max: Math.max(...xs), n: xs.length });
  return { all: stats(all), byInstance: byInstance.map(stats), latencies: byInstance, lost, cpu: cpu / UPDATES };
}

// ---------------------------------------------------------------- run
// Every configuration runs at the same time (idle ones cost next to nothing) and the rounds
// rotate their order, so noise from other work on the machine falls on all of them alike.
console.log(`bench:scale${QUICK ? ' (quick)' : ''}: 1 writer (${UPDATES} updates per round, one every ${INTERVAL_MS} ms), readers ${READERS.join(', ')}, ${ROUNDS} round(s) in rotating order, ${READER_WORKERS} reader worker processes`);
const backends = await startBackends();
const rPid = redisPid(backends.redisUrl);
const shared = { CODEX_REDIS_URL: backends.redisUrl, CODEX_DATABASE_URL: backends.databaseUrl };
const configs = [
  { name: 'single', env: [{}], extra: [] },
  { name: 'single+redis', env: [shared], extra: rPid ? [rPid] : [] },
  { name: 'two', env: [shared, shared], extra: rPid ? [rPid] : [] },
];
const results = Object.fromEntries(configs.map((c) => [c.name, Object.fromEntries(READERS.map((n) => [n, []]))]));
const started = [];
let workers = [];
try {
  for (const c of configs) started.push({ ...c, instances: await Promise.all(c.env.map((e) => startInstance(e))) });
  workers = await startWorkers(READER_WORKERS + 1);
  // warm-up: code caches, pools, Redis scripts
  for (const c of started) await fanout(`${c.name} warm-up`, c.instances, workers, 4, c.extra);
  for (let round = 0; round < ROUNDS; round++) {
    for (const n of READERS) {
      for (let k = 0; k < started.length; k++) {
        const c = started[(k + round) % started.length];
        const r = await fanout(c.name, c.instances, workers, n, c.extra);
        results[c.name][n].push(r);
        console.log(`round ${round + 1} ${c.name.padEnd(13)} ${String(n).padStart(4)} readers: p50 ${r.all.p50.toFixed(2)} ms, p99 ${r.all.p99.toFixed(2)} ms` +
          (c.instances.length > 1 ? ` (same instance p99 ${r.byInstance[0].p99.toFixed(2)}, other instance p99 ${r.byInstance[1].p99.toFixed(2)})` : '') +
          `, CPU ${r.cpu.toFixed(2)} ms/update`);
      }
    }
  }
} finally {
  for (const w of workers) w.kill();
  await Promise.all(started.flatMap((c) => c.instances.map((i) => i.stop())));
}
let relay;
try {
  relay = await relayThroughput(backends.redisUrl, RELAY_LINES);
} finally {
  await backends.stop();
}

/** Pools the rounds of one configuration: latencies together, CPU and loss summed. */
function pooled(rounds) {
  const stats = (xs) => ({ p50: pct(xs, 50), p99: pct(xs, 99), max: Math.max(...xs) });
  const sum = (f) => rounds.reduce((s, r) => s + f(r), 0);
  const medianOf = (xs) => pct(xs, 50);
  return {
    // p99 of each round, then the median over rounds: robust to one round hit by outside load
    roundP99: {
      all: medianOf(rounds.map((r) => r.all.p99)),
      byInstance: rounds[0].latencies.map((_, i) => medianOf(rounds.map((r) => r.byInstance[i].p99))),
    },
    all: stats(rounds.flatMap((r) => r.latencies.flat())),
    byInstance: rounds[0].latencies.map((_, i) => stats(rounds.flatMap((r) => r.latencies[i]))),
    lost: sum((r) => r.lost),
    cpu: sum((r) => r.cpu) / rounds.length,
  };
}
for (const c of configs) for (const n of READERS) results[c.name][n] = pooled(results[c.name][n]);

// ---------------------------------------------------------------- table
const fmt = (x) => (Number.isFinite(x) ? (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2)) : '–');
const cols = ['readers', 'metric', 'single', 'single+redis', 'two: same', 'two: other', 'other/single'];
const widths = [8, 38, 9, 13, 10, 11, 13];
const line = (cells) => cells.map((c, i) => (i < 2 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('');
console.log(`\n${line(cols)}`);
let goalMet = true;
let goalMetRounds = true;
for (const n of READERS) {
  const s = results.single[n];
  const sr = results['single+redis'][n];
  const t = results.two[n];
  for (const k of ['p50', 'p99', 'max']) {
    const ratio = t.byInstance[1][k] / s.all[k];
    if (k === 'p99' && !(ratio <= 2)) goalMet = false;
    console.log(line([n, `${k} latency (ms)`, fmt(s.all[k]), fmt(sr.all[k]), fmt(t.byInstance[0][k]), fmt(t.byInstance[1][k]), fmt(ratio)]));
  }
  const rr = t.roundP99.byInstance[1] / s.roundP99.all;
  if (!(rr <= 2)) goalMetRounds = false;
  console.log(line([n, 'p99 latency, median of rounds (ms)', fmt(s.roundP99.all), fmt(sr.roundP99.all), fmt(t.roundP99.byInstance[0]), fmt(t.roundP99.byInstance[1]), fmt(rr)]));
  console.log(line([n, 'lost updates', s.lost, sr.lost, t.lost, '', '']));
  console.log(line([n, `CPU / update, all processes (ms)`, fmt(s.cpu), fmt(sr.cpu), fmt(t.cpu), '', fmt(t.cpu / s.cpu)]));
}
console.log(`\n"two: same" = readers on the writer's instance, "two: other" = readers on the other instance (cross-instance).`);
console.log(`CPU / update: CPU time of the configuration's CodeX processes${rPid ? ' (plus redis-server for the shared ones)' : ''} during the writing and a 1.5 s drain, divided by the updates; PostgreSQL's CPU is not counted.`);
console.log(`\nrun output across instances (${RELAY_LINES} lines, driver → Redis → watcher, until done arrived):`);
console.log(`  batched, as the exec channel relays: ${relay.batched.toFixed(0)} ms; one frame per entry (reference): ${relay.single.toFixed(0)} ms; ${(relay.single / relay.batched).toFixed(1)}× faster`);
console.log(`goal (cross-instance p99 ≤ 2 × single-instance p99): ${goalMet ? 'met' : 'NOT met'} on the pooled p99, ${goalMetRounds ? 'met' : 'NOT met'} on the median of the rounds' p99`);
if (problems.length > 0) {
  console.error(`\nFAILED: loss or divergence\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('no divergence, no lost updates');
process.exit(0);

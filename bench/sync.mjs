// `npm run bench:sync`: CodeX's sync server vs. the classic y-websocket 1.5 server
// (node_modules/y-websocket-classic/bin/server.js), both started here, measured with real
// y-websocket providers in separate worker processes (bench/sync-worker.mjs).
// Prints both side by side with the ratio (CodeX / classic); exits 1 on divergence or loss.
// Env: BENCH_QUICK=1 for a short smoke run; BENCH_ONLY=a,b,c,d to run some scenarios;
// BENCH_READERS=1,10 to pick the fan-out sizes; BENCH_ROUNDS (default 3); BENCH_FANOUT_UPDATES (150);
// BENCH_WARM_UPDATES (2000); BENCH_CODEX_ARGS / BENCH_CLASSIC_ARGS: extra node flags per server.
import * as Y from 'yjs';
import { median, pct, procStats, sleep, startWorkers } from './lib.mjs';
import { startClassic, startCodex } from './sync-servers.mjs';

const QUICK = process.env.BENCH_QUICK === '1';
const READER_COUNTS = process.env.BENCH_READERS ? process.env.BENCH_READERS.split(',').map(Number) : QUICK ? [1, 10] : [1, 10, 100, 300];
const FANOUT_UPDATES = Number(process.env.BENCH_FANOUT_UPDATES ?? (QUICK ? 50 : 150)); // every 20 ms: 3 s of typing per round
const ROOMS_B = QUICK ? 20 : 200;
const TYPIST_UPDATES = QUICK ? 5 : 10; // every 500 ms per typist
const EDITS_C = QUICK ? 5_000 : 50_000;
const IDLE_ROOMS = QUICK ? 50 : 1000;
// (a)'s warm-up: this many updates, one every 2 ms, to 10 readers, on each server before any round
const WARM_UPDATES = Number(process.env.BENCH_WARM_UPDATES ?? (QUICK ? 200 : 2000));
const WORKERS = 4;
// Scenarios (a)–(c) run this many rounds per server, alternating which server goes first; latency
// percentiles and CPU per update are pooled over the rounds, join times are medians of the rounds.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 1 : 3));
const ONLY = new Set((process.env.BENCH_ONLY ?? 'a,b,c,d').split(','));
const problems = [];

/** Time for the peers' joins (sync, presence) to settle before a measurement starts. */
const SETTLE_JOINS_MS = 2000;

function checkConverged(label, reports) {
  const byRoom = new Map();
  for (const peer of reports.flatMap((r) => r.peers)) {
    if (peer.closed) problems.push(`${label}: a provider was closed by the server (${peer.closed.code} ${peer.closed.reason})`);
    const set = byRoom.get(peer.room) ?? new Set();
    set.add(peer.hash);
    byRoom.set(peer.room, set);
  }
  const diverged = [...byRoom.values()].filter((s) => s.size > 1).length;
  if (diverged > 0) problems.push(`${label}: ${diverged} room(s) diverged`);
  return diverged;
}

// ---------------------------------------------------------------- scenarios
async function fanout(server, workers, readers, updates = FANOUT_UPDATES, intervalMs = 20) {
  const target = await server.room();
  const [writer, ...readerWorkers] = workers;
  const per = Math.ceil(readers / readerWorkers.length);
  await Promise.all(readerWorkers.map((w, i) => {
    const count = Math.max(0, Math.min(per, readers - i * per));
    return count > 0 ? w.call('readers', { target: target('viewer'), count }) : null;
  }));
  await sleep(SETTLE_JOINS_MS);
  const before = procStats(server.child.pid);
  await writer.call('writer', { target: target('editor'), name: 'w', intervalMs, updates });
  await sleep(1000); // drain
  const after = procStats(server.child.pid);
  const reports = await Promise.all(workers.map((w) => w.call('report')));
  await Promise.all(workers.map((w) => w.call('close')));
  const lat = reports.flatMap((r) => r.latencies);
  const lost = readers * updates - lat.length;
  if (lost !== 0) problems.push(`fan-out ${readers} readers on ${server.name}: ${lost} update(s) lost`);
  checkConverged(`fan-out ${readers} on ${server.name}`, reports);
  return { lat, lost, cpuMs: after.cpuMs - before.cpuMs, updates };
}

/** Pools the rounds of one scenario on one server: latency percentiles over every sample, CPU over every update. */
function pooled(rounds) {
  const lat = rounds.flatMap((r) => r.lat);
  const updates = rounds.reduce((n, r) => n + r.updates, 0);
  const cpu = rounds.reduce((n, r) => n + r.cpuMs, 0);
  const perRound = rounds.map((r) => ({ p99: pct(r.lat, 99), cpuPerUpdate: r.cpuMs / r.updates }));
  return {
    p50: median(lat), p99: pct(lat, 99), max: pct(lat, 100), lost: rounds.reduce((n, r) => n + r.lost, 0),
    cpuPerUpdate: cpu / updates, perRound,
  };
}

async function manyRooms(server, workers, roomCount = ROOMS_B) {
  const targets = [];
  for (let r = 0; r < roomCount; r++) {
    const t = await server.room();
    for (let k = 0; k < 3; k++) targets.push({ target: t('editor'), name: `r${r}t${k}`, room: r });
  }
  await sleep(SETTLE_JOINS_MS);
  const before = procStats(server.child.pid);
  await Promise.all(workers.map((w, i) => w.call('typists', { targets: targets.filter((t) => t.room % workers.length === i), intervalMs: 500, updates: TYPIST_UPDATES })));
  await sleep(1500);
  const after = procStats(server.child.pid);
  const reports = await Promise.all(workers.map((w) => w.call('report')));
  await Promise.all(workers.map((w) => w.call('close')));
  const lat = reports.flatMap((r) => r.latencies);
  const lost = roomCount * 3 * 2 * TYPIST_UPDATES - lat.length;
  if (lost !== 0) problems.push(`${roomCount} rooms × 3 typists on ${server.name}: ${lost} update(s) lost`);
  checkConverged(`${roomCount} rooms on ${server.name}`, reports);
  return { lat, lost, cpuMs: after.cpuMs - before.cpuMs, updates: roomCount * 3 * TYPIST_UPDATES };
}

/** ~1 MB of text from `edits` random-position edits (a few deletions), as one update. */
function bigDocUpdate(edits = EDITS_C) {
  const doc = new Y.Doc();
  const text = doc.getText('bench');
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let i = 0; i < edits; i++) {
    if (i % 10 === 9 && text.length > 40) text.delete(Math.floor(rnd() * (text.length - 10)), 5);
    else text.insert(Math.floor(rnd() * (text.length + 1)), `line ${i} of the big doc;\n`.slice(0, 23));
  }
  const update = Y.encodeStateAsUpdate(doc);
  const t0 = performance.now();
  const encodeMs = (Y.encodeStateAsUpdate(doc), performance.now() - t0);
  const t1 = performance.now();
  Y.applyUpdate(new Y.Doc(), update);
  const applyMs = performance.now() - t1;
  return { update, textLength: text.length, encodeMs, applyMs };
}

async function bigJoin(server, workers, big, { quiet = false } = {}) {
  const target = await server.room();
  await workers[0].call('upload', { target: target('editor'), update: Buffer.from(big.update).toString('base64') });
  await workers[0].call('close');
  const singles = [];
  const arrivals = [];
  let info;
  for (let i = 0; i < 5; i++) {
    info = await workers[1].call('join', { target: target('viewer'), count: 1 });
    singles.push(info.all);
    arrivals.push(info.arrived[0]);
    if (info.len !== big.textLength) problems.push(`big join on ${server.name}: got ${info.len} chars, want ${big.textLength}`);
  }
  // One start time for both workers; each reports when its last provider synced (its
  // post-processing is not counted).
  const at = performance.timeOrigin + performance.now() + 50;
  const cpu0 = procStats(server.child.pid).cpuMs;
  const tens = await Promise.all([workers[2], workers[3]].map((w) => w.call('join', { target: target('viewer'), count: 5, at })));
  const ten = Math.max(...tens.map((r) => r.all));
  // the server's share of the 10 joins (their arrival times include each worker's queueing)
  const tenServerCpu = procStats(server.child.pid).cpuMs - cpu0;
  for (const r of tens) if (r.len !== big.textLength) problems.push(`10 joins on ${server.name}: got ${r.len} chars`);
  let cold = NaN;
  if (server.name === 'CodeX' && !quiet) {
    // Cold: the room unloaded (default 5 s after its last peer), so the join reads it from SQLite.
    for (let i = 0; i < 100 && (await server.loadedRooms()) > 0; i++) await sleep(100);
    cold = (await workers[1].call('join', { target: target('viewer'), count: 1 })).all;
  }
  return { singles, arrivals, first: singles[0], ten, tenServerCpu, cold, clientApplyMs: info.applyMs, bytes: info.bytes };
}

/** Median RSS of 5 samples over 2 s (single samples swing with the garbage collector). */
async function steadyRss(pid) {
  const xs = [];
  for (let i = 0; i < 5; i++) {
    await sleep(400);
    xs.push(procStats(pid).rss);
  }
  return median(xs);
}

async function idleMemory(server, workers) {
  // Warm-up: a first wave of rooms and peers grows pools and code caches that later rooms reuse.
  const warm = [];
  for (let i = 0; i < 100; i++) warm.push((await server.room())('editor'));
  await Promise.all(workers.map((w, i) => w.call('idle', { targets: warm.filter((_, k) => k % workers.length === i) })));
  await Promise.all(workers.map((w) => w.call('close')));
  const targets = [];
  for (let i = 0; i < IDLE_ROOMS; i++) targets.push(await server.room());
  const half = Math.floor(IDLE_ROOMS / 2);
  const split = (list, role) => workers.map((_, i) => list.filter((_, k) => k % workers.length === i).map((t) => t(role)));
  const connect = (list, role) => Promise.all(workers.map((w, i) => w.call('idle', { targets: split(list, role)[i] })));
  const base = await steadyRss(server.child.pid);
  await connect(targets.slice(0, half), 'editor');
  const firstHalf = await steadyRss(server.child.pid);
  await connect(targets.slice(half), 'editor');
  const withRooms = await steadyRss(server.child.pid);
  await connect(targets, 'viewer');
  const withPeers = await steadyRss(server.child.pid);
  await Promise.all(workers.map((w) => w.call('close')));
  let loadedAfter = NaN;
  if (server.name === 'CodeX') {
    for (let i = 0; i < 150 && (await server.loadedRooms()) > 0; i++) await sleep(100);
    loadedAfter = await server.loadedRooms();
  }
  // Per room: the slope over the second half. The first rooms also pay for the heap growing past
  // its start-up size, which depends on how big the process was before (a server that loads
  // fewer modules starts smaller and showed twice the first-wave figure at a lower total).
  return {
    perRoom: (withRooms - firstHalf) / (IDLE_ROOMS - half),
    perRoomFirstHalf: (firstHalf - base) / half,
    perPeer: (withPeers - withRooms) / IDLE_ROOMS,
    rssMiB: { base: base / 2 ** 20, withRooms: withRooms / 2 ** 20, withPeers: withPeers / 2 ** 20 },
    loadedAfter,
  };
}

// ---------------------------------------------------------------- run
const rows = [];
const row = (scenario, metric, a, b, unit, lowerIsBetter = true) => rows.push({ scenario, metric, a, b, unit, lowerIsBetter });

console.log(`bench:sync${QUICK ? ' (quick)' : ''}: CodeX (SQLite persistence + token auth on) vs classic y-websocket 1.5, ${WORKERS} worker processes of providers`);
const big = ONLY.has('c') ? bigDocUpdate() : null;
if (big) console.log(`big doc: ${EDITS_C} edits, ${big.textLength} chars, ${big.update.length} bytes encoded; encode ${big.encodeMs.toFixed(0)} ms, apply into an empty doc ${big.applyMs.toFixed(0)} ms (this process)`);
const results = {};
// BENCH_SERVERS=codex (or classic) runs one of them only (for profiling; no table then)
const SERVERS = (process.env.BENCH_SERVERS ?? 'codex,classic').split(',');
// Both servers run side by side and every round of a scenario runs on one, then at once on the
// other (swapping the order each round), so a burst of load from elsewhere on the machine skews
// both rather than one whole column.
const starters = [SERVERS.includes('codex') && startCodex, SERVERS.includes('classic') && startClassic].filter(Boolean);
const servers = [];
for (const start of starters) servers.push(await start());
const workers = await startWorkers(WORKERS + 1);
for (const server of servers) results[server.name] = { fanout: {} };
/** Runs `scenario` ROUNDS times on every server, swapping which server goes first each round. */
async function rounds(scenario) {
  const raw = new Map(servers.map((sv) => [sv, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const server of r % 2 === 0 ? servers : [...servers].reverse()) {
      await server.settle();
      raw.get(server).push(await scenario(server));
    }
  }
  return raw;
}
try {
  // Warm-up, not measured: the worker processes are shared, and whichever server met them first
  // would pay for their JIT (seen as a p99 twice the others' in the first round). It is long and
  // fast enough for V8 to optimize each server's message path, which a server in use all day has
  // done: after 50 updates the reference still ran ~30 % more CPU per update than in steady state.
  if (ONLY.has('a')) for (const server of servers) await fanout(server, workers, 10, WARM_UPDATES, 2);
  if (ONLY.has('b')) for (const server of servers) await manyRooms(server, workers.slice(0, WORKERS), Math.ceil(ROOMS_B / 4));
  for (const n of ONLY.has('a') ? READER_COUNTS : []) {
    for (const [server, raws] of await rounds((sv) => fanout(sv, workers, n))) {
      const f = (results[server.name].fanout[n] = pooled(raws));
      console.log(`${server.name}: fan-out to ${n}: p50 ${f.p50.toFixed(1)} ms p99 ${f.p99.toFixed(1)} ms, CPU/update ${f.cpuPerUpdate.toFixed(2)} ms (rounds: ${f.perRound.map((x) => `${x.p99.toFixed(1)}/${x.cpuPerUpdate.toFixed(2)}`).join(' ')})`);
    }
  }
  if (ONLY.has('b')) {
    for (const [server, raws] of await rounds((sv) => manyRooms(sv, workers.slice(0, WORKERS)))) {
      const r = (results[server.name].rooms = pooled(raws));
      console.log(`${server.name}: ${ROOMS_B} rooms × 3 typists: p99 ${r.p99.toFixed(1)} ms, CPU/update ${r.cpuPerUpdate.toFixed(2)} ms (rounds: ${r.perRound.map((x) => `${x.p99.toFixed(1)}/${x.cpuPerUpdate.toFixed(2)}`).join(' ')})`);
    }
  }
  if (ONLY.has('c')) {
    // The workers are shared: warm their code (decoding, integrating) on a smaller room first,
    // or the server measured first pays for the JIT.
    await bigJoin(servers[0], workers, bigDocUpdate(Math.min(EDITS_C, 10_000)), { quiet: true });
    for (const [server, raws] of await rounds((sv) => bigJoin(sv, workers, big))) {
      const med = (k) => median(raws.map((x) => x[k]));
      const r = (results[server.name].join = {
        single: median(raws.flatMap((x) => x.singles)), arrived: median(raws.flatMap((x) => x.arrivals)),
        first: med('first'), ten: med('ten'), tenServerCpu: med('tenServerCpu'), cold: med('cold'),
        clientApplyMs: med('clientApplyMs'), bytes: raws[0].bytes,
      });
      console.log(`${server.name}: join 1 MB: ${r.single.toFixed(0)} ms, 10 at once ${r.ten.toFixed(0)} ms (rounds: ${raws.map((x) => x.ten.toFixed(0)).join(' ')})`);
    }
  }
  if (ONLY.has('d')) {
    // Memory is measured on fresh servers: after (c) each heap still holds (or is collecting) a
    // 2.7 MB document's garbage, which swamps a per-room figure of a few KiB.
    if (ONLY.has('a') || ONLY.has('b') || ONLY.has('c')) {
      for (const [i, server] of servers.entries()) {
        await server.stop();
        servers[i] = await starters[i]();
      }
    }
    for (const server of servers) results[server.name].idle = await idleMemory(server, workers.slice(0, WORKERS));
  }
} finally {
  for (const w of workers) w.kill();
  for (const server of servers) await server.stop();
}

if (SERVERS.length < 2) {
  console.log(JSON.stringify(results, null, 1));
  process.exit(problems.length > 0 ? 1 : 0);
}
const A = results.CodeX;
const B = results.classic;
for (const n of ONLY.has('a') ? READER_COUNTS : []) {
  for (const k of ['p50', 'p99', 'max']) row(`(a) fan-out 1→${n}`, `${k} latency`, A.fanout[n][k], B.fanout[n][k], 'ms');
  row(`(a) fan-out 1→${n}`, 'lost updates', A.fanout[n].lost, B.fanout[n].lost, '');
  row(`(a) fan-out 1→${n}`, 'server CPU / update', A.fanout[n].cpuPerUpdate, B.fanout[n].cpuPerUpdate, 'ms');
}
if (ONLY.has('b')) for (const k of ['p50', 'p99', 'max']) row(`(b) ${ROOMS_B} rooms × 3`, `${k} latency`, A.rooms[k], B.rooms[k], 'ms');
if (ONLY.has('b')) row(`(b) ${ROOMS_B} rooms × 3`, 'lost updates', A.rooms.lost, B.rooms.lost, '');
if (ONLY.has('b')) row(`(b) ${ROOMS_B} rooms × 3`, 'server CPU / update', A.rooms.cpuPerUpdate, B.rooms.cpuPerUpdate, 'ms');
if (ONLY.has('c')) row('(c) join ~1 MB doc', 'first join (server cold cache)', A.join.first, B.join.first, 'ms');
if (ONLY.has('c')) row('(c) join ~1 MB doc', 'join (median of 5 per round)', A.join.single, B.join.single, 'ms');
if (ONLY.has('c')) row('(c) join ~1 MB doc', '  of which: state arrived', A.join.arrived, B.join.arrived, 'ms');
if (ONLY.has('c')) row('(c) join ~1 MB doc', '10 simultaneous joins', A.join.ten, B.join.ten, 'ms');
if (ONLY.has('c')) row('(c) join ~1 MB doc', '  server CPU for the 10 joins', A.join.tenServerCpu, B.join.tenServerCpu, 'ms');
if (ONLY.has('c')) row('(c) join ~1 MB doc', 'join after unload (from SQLite)', A.join.cold, NaN, 'ms');
if (ONLY.has('c')) row('(c) join ~1 MB doc', 'client apply of the state', A.join.clientApplyMs, B.join.clientApplyMs, 'ms');
if (ONLY.has('d')) row('(d) idle memory', 'RSS per idle room (1 peer)', A.idle.perRoom / 1024, B.idle.perRoom / 1024, 'KiB');
if (ONLY.has('d')) row('(d) idle memory', '  same, first half of the rooms', A.idle.perRoomFirstHalf / 1024, B.idle.perRoomFirstHalf / 1024, 'KiB');
if (ONLY.has('d')) row('(d) idle memory', 'RSS with all rooms and peers', A.idle.rssMiB.withPeers, B.idle.rssMiB.withPeers, 'MiB');
if (ONLY.has('d')) row('(d) idle memory', 'RSS per extra idle peer', A.idle.perPeer / 1024, B.idle.perPeer / 1024, 'KiB');
if (ONLY.has('d')) row('(d) idle memory', 'rooms in memory after all left', A.idle.loadedAfter, IDLE_ROOMS, '');

const fmt = (x) => (Number.isNaN(x) ? '–' : Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2));
const w = [26, 32, 10, 10, 7];
console.log(`\n${'scenario'.padEnd(w[0])}${'metric'.padEnd(w[1])}${'CodeX'.padStart(w[2])}${'classic'.padStart(w[3])}${'ratio'.padStart(w[4])}  unit`);
for (const r of rows) {
  const ratio = r.b ? r.a / r.b : NaN;
  console.log(`${r.scenario.padEnd(w[0])}${r.metric.padEnd(w[1])}${fmt(r.a).padStart(w[2])}${fmt(r.b).padStart(w[3])}${(Number.isFinite(ratio) ? ratio.toFixed(2) : '–').padStart(w[4])}  ${r.unit}`);
}
if (problems.length > 0) {
  console.error(`\nFAILED: divergence or loss\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('\nno divergence, no lost updates');
process.exit(0);

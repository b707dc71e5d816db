// npm run bench:engine — the embedded engine against the floor: the same program run directly,
// unsandboxed, by the same Node process, in the same run. Prints a table with both and the ratio.
// C compiles in both (gcc + run); concurrent C compiles would share one a.out, so only python runs concurrently.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../server/dist/config.js';
import { silentLogger } from '../server/dist/log.js';
import { startEmbeddedEngine } from '../server/dist/exec/engine/embedded.js';

const N = Number(process.env.BENCH_N ?? 40);
const CONCURRENT = 50;
const PY = 'print("Hello, World!")\n';
const C = '#include <stdio.h>\nint main(void) { puts("Hello, World!"); return 0; }\n';

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

function direct(cmd, args, cwd) {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { cwd, env: { PATH: '/usr/bin:/bin', HOME: '/tmp' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d) => { out += d; });
    c.stderr.resume();
    c.stdin.on('error', () => {});
    c.stdin.end('\n');
    c.on('error', reject);
    c.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}`))));
  });
}

/** The floor: the program run directly, unsandboxed (its file written once; for C: compiled each time, like the engine). */
const floorDir = mkdtempSync(path.join(tmpdir(), 'bench-floor-'));
writeFileSync(path.join(floorDir, 'main.py'), PY);
writeFileSync(path.join(floorDir, 'main.c'), C);
async function floorJob(lang) {
  if (lang === 'python') return direct('/usr/bin/python3', ['main.py'], floorDir);
  await direct('/usr/bin/gcc', ['-std=c11', 'main.c', '-lm'], floorDir);
  return direct('./a.out', [], floorDir);
}

async function engineJob(url, lang) {
  const res = await fetch(`${url}/api/v2/execute`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ language: lang, version: '*', files: [{ name: lang === 'python' ? 'main.py' : 'main.c', content: lang === 'python' ? PY : C }] }),
  });
  const body = await res.json();
  if (body.run?.stdout !== 'Hello, World!\n') throw new Error(`unexpected answer: ${JSON.stringify(body)}`);
  return body;
}

async function latency(fn, n) {
  for (let i = 0; i < 3; i++) await fn(); // warm caches
  const xs = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    xs.push(performance.now() - t);
  }
  return xs;
}

/** Sustained load: `total` jobs, `CONCURRENT` in flight at any time (sandboxes made during the run). */
async function sustained(fn, total) {
  let started = 0;
  const t = performance.now();
  const worker = async () => {
    while (started < total) {
      started++;
      await fn();
    }
  };
  await Promise.all(Array.from({ length: CONCURRENT }, worker));
  return total / ((performance.now() - t) / 1000);
}

async function throughput(fn) {
  // one burst first: steady state (warm caches; for the engine, every slot's sandbox prepared)
  await Promise.all(Array.from({ length: CONCURRENT }, fn));
  await new Promise((r) => setTimeout(r, 500));
  const t = performance.now();
  await Promise.all(Array.from({ length: CONCURRENT }, fn));
  const s = (performance.now() - t) / 1000;
  return CONCURRENT / s;
}

/**
 * BENCH_ENGINE=process runs the engine as its own process (`node server/dist/exec/engine/main.js`, as
 * `npm run engine` does), so the fetch client and the floor's spawns do not share its event loop: what
 * an outside Piston client sees. The default is in-process, as the server embeds it (its own Piston
 * client then shares the loop too).
 */
const SEPARATE = process.env.BENCH_ENGINE === 'process';
async function separateEngine() {
  const { createServer } = await import('node:net');
  const port = await new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => { const p = srv.address().port; srv.close(() => resolve(p)); });
  });
  const child = spawn(process.execPath, [path.resolve(import.meta.dirname, '../server/dist/exec/engine/main.js')], {
    env: { ...process.env, PISTON_BIND_ADDRESS: `127.0.0.1:${port}`, CODEX_LOG_LEVEL: 'silent' }, stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try { await fetch(`${url}/`); break; } catch (err) { if (i > 300 || child.exitCode !== null) throw err; }
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 1000)); // its first sandboxes get prepared at start
  return {
    url, problem: () => null,
    close: () => new Promise((r) => { child.once('exit', r); child.kill('SIGTERM'); }),
  };
}
const config = loadConfig({ ...process.env, CODEX_LOG_LEVEL: 'silent' });
const engine = SEPARATE ? await separateEngine() : await startEmbeddedEngine(config, silentLogger());
if (engine.problem()) {
  console.error(engine.problem());
  process.exit(1);
}
const rows = [];
try {
  for (const lang of ['python', 'c']) {
    const n = lang === 'c' ? Math.ceil(N / 2) : N;
    const floor = await latency(() => floorJob(lang), n);
    const eng = await latency(() => engineJob(engine.url, lang), n);
    rows.push({
      what: `${lang} hello, latency (ms, median / p90)`,
      floor: `${pct(floor, 50).toFixed(1)} / ${pct(floor, 90).toFixed(1)}`,
      engine: `${pct(eng, 50).toFixed(1)} / ${pct(eng, 90).toFixed(1)}`,
      cmp: `+${(pct(eng, 50) - pct(floor, 50)).toFixed(1)} ms (x${(pct(eng, 50) / pct(floor, 50)).toFixed(2)})`,
    });
  }
  const tf = await throughput(() => floorJob('python'));
  const te = await throughput(() => engineJob(engine.url, 'python'));
  rows.push({
    what: `${CONCURRENT} concurrent python hello, one burst (jobs/s)`,
    floor: tf.toFixed(1), engine: te.toFixed(1), cmp: `${((te / tf) * 100).toFixed(0)}% of floor`,
  });
  const SUSTAINED = 250;
  const sf = await sustained(() => floorJob('python'), SUSTAINED);
  const se = await sustained(() => engineJob(engine.url, 'python'), SUSTAINED);
  rows.push({
    what: `sustained: ${SUSTAINED} python hello, ${CONCURRENT} in flight (jobs/s)`,
    floor: sf.toFixed(1), engine: se.toFixed(1), cmp: `${((se / sf) * 100).toFixed(0)}% of floor`,
  });
} finally {
  await engine.close();
  rmSync(floorDir, { recursive: true, force: true });
}
const cores = (await import('node:os')).cpus().length;
console.log(`\nembedded engine (${SEPARATE ? 'its own process' : 'in the benchmark\'s process'}) vs. floor (same program run directly, unsandboxed), ${cores} cores, N=${N}\n`);
console.log('| measurement | floor (direct) | engine (bwrap sandbox, HTTP) | engine vs floor |');
console.log('| --- | --- | --- | --- |');
for (const r of rows) console.log(`| ${r.what} | ${r.floor} | ${r.engine} | ${r.cmp} |`);
console.log('\ngoals: python latency under floor + 8 ms; 50 concurrent jobs at no less than 80% of the floor\'s throughput');
console.log('the burst runs on sandboxes prepared beforehand (the engine prepares them while idle); the sustained run makes them as it goes');

// `npm run bench:exec`: one run printing 10 MB, watched by 1, 10, 100 and 300 participants of the
// shared execution channel (plus one participant stalled on purpose: a raw socket that never reads),
// against the floor: the same run read directly from the engine's /api/v2/connect by one client.
// Prints time until the last participant has the last byte, the server's CPU and peak RSS.
//
// The engine runs as its own process (`server/dist/exec/engine/main.js`) and the server reaches it
// through PISTON_URL, so the server's CPU and RSS are the channel's alone. Watchers are `ws` clients
// in worker processes. Usage: node bench/exec.mjs [--watchers 1,10,100,300] [--mb 10] [--workers <cores>]
import { fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { freePort, waitHttp } from './lib.mjs';

const HERE = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(HERE), '..');

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

// ------------------------------------------------------------------ worker mode: N watcher sockets
if (process.argv[2] === 'worker') {
  const STDOUT = Buffer.from('{"type":"data"'); // stdout and stderr (no stdin in this run)
  const DONE = Buffer.from('{"type":"done"');
  const GAP = Buffer.from('{"type":"gap"');
  const HELLO = Buffer.from('{"type":"hello"');
  const sockets = [];
  process.on('message', async (msg) => {
    if (msg.cmd === 'connect') {
      const opened = [];
      for (let i = 0; i < msg.count; i++) {
        // as light as a client can be: no UTF-8 validation, frames told apart by their first bytes
        const ws = new WebSocket(msg.url, { perMessageDeflate: false, skipUTF8Validation: true });
        const s = { ws, bytes: 0, gaps: 0, doneAt: 0 };
        sockets.push(s);
        opened.push(
          new Promise((resolve, reject) => {
            ws.once('error', reject);
            ws.on('message', (data) => {
              if (data.length > 20 && data.compare(STDOUT, 0, STDOUT.length, 0, STDOUT.length) === 0) {
                s.bytes += data.length;
              } else if (data.compare(DONE, 0, DONE.length, 0, DONE.length) === 0) {
                s.doneAt = performance.timeOrigin + performance.now();
                process.send({ cmd: 'done', bytes: s.bytes, gaps: s.gaps, at: s.doneAt });
                s.bytes = 0;
                s.gaps = 0;
              } else if (data.compare(GAP, 0, GAP.length, 0, GAP.length) === 0) {
                s.gaps += 1;
              } else if (data.compare(HELLO, 0, HELLO.length, 0, HELLO.length) === 0) {
                resolve();
              }
            });
          }),
        );
      }
      await Promise.all(opened);
      process.send({ cmd: 'connected' });
    } else if (msg.cmd === 'cpu') {
      const u = process.cpuUsage();
      process.send({ cmd: 'cpu', ms: (u.user + u.system) / 1000 });
    } else if (msg.cmd === 'close-room') {
      for (const s of sockets.splice(0)) s.ws.close();
    } else if (msg.cmd === 'close') {
      for (const s of sockets) s.ws.close();
      process.exit(0);
    }
  });
} else {
  await main();
}

// ------------------------------------------------------------------ helpers
function procStat(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
  return { cpuMs: (ticks * 1000) / 100, rss };
}

function program(mb) {
  // 64 KiB chunks of 1 KiB lines, flushed, `mb` MiB in total: half on stdout, half on stderr, because
  // the embedded engine caps each stream of a WebSocket job at 8 MiB (job.ts WS_OUTPUT_MAX)
  return (
    `import sys\nchunk = ("x" * 1023 + "\\n") * 64\nfor i in range(${mb * 16}):\n` +
    `    (sys.stdout if i % 2 == 0 else sys.stderr).write(chunk)\n    (sys.stdout if i % 2 == 0 else sys.stderr).flush()\n`
  );
}

/** A participant that completes the WebSocket handshake and then never reads again. */
async function stalledParticipant(port, pathAndQuery) {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  sock.write(
    `GET ${pathAndQuery} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${Buffer.from('stalledstalled16').toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  await new Promise((r) => sock.once('data', r)); // the 101 answer (and perhaps hello)
  sock.pause(); // from now on the kernel buffers fill up and the server sees a stalled socket
  return sock;
}

/** The floor: one client straight on the engine's /api/v2/connect. */
async function floorRun(engineUrl, mb) {
  const ws = new WebSocket(`${engineUrl.replace('http', 'ws')}/api/v2/connect`, { perMessageDeflate: false });
  await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
  const t0 = performance.now();
  let bytes = 0;
  ws.on('message', (d) => {
    // (same accounting as the watchers)
    const text = d.toString();
    if (text.startsWith('{"type":"data"')) bytes += text.length;
  });
  ws.send(JSON.stringify({ type: 'init', language: 'python', version: '*', files: [{ name: 'main.py', content: program(mb) }] }));
  const code = await new Promise((r) => ws.once('close', r));
  if (code !== 4999) throw new Error(`floor run closed with ${code}`);
  return { ms: performance.now() - t0, bytes };
}

// ------------------------------------------------------------------ main
async function main() {
  const watcherCounts = arg('watchers', '1,10,100,300').split(',').map(Number);
  const mb = Number(arg('mb', '10'));
  const workerCount = Number(arg('workers', String((await import('node:os')).cpus().length)));
  // replay buffer of the run: the default 1 MiB makes watchers that fall behind skip (gap frames);
  // the bench gives the run room for all 10 MiB so every watcher gets every byte (shared, not per watcher)
  const bufferBytes = Number(arg('buffer', String(16 * 1024 * 1024)));
  const dataDir = mkdtempSync(path.join(tmpdir(), 'codex-bench-exec-'));
  const enginePort = await freePort();
  const serverPort = await freePort();
  const env = { ...process.env, CODEX_LOG_LEVEL: 'warn', PISTON_RUN_TIMEOUT: '60000' };
  const engine = spawn(process.execPath, [path.join(ROOT, 'server/dist/exec/engine/main.js')], {
    env: { ...env, PISTON_BIND_ADDRESS: `127.0.0.1:${enginePort}` },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const engineUrl = `http://127.0.0.1:${enginePort}`;
  await waitHttp(`${engineUrl}/api/v2/runtimes`);
  // --profile <dir>: write a V8 CPU profile of the server process there
  const profileDir = arg('profile', '');
  const serverArgs = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const server = spawn(process.execPath, [...serverArgs, path.join(ROOT, 'server/dist/main.js')], {
    env: {
      ...env, HOST: '127.0.0.1', PORT: String(serverPort), CODEX_DATA_DIR: dataDir, PISTON_URL: engineUrl,
      CODEX_EXEC_RUNS_PER_MINUTE: '1000', CODEX_EXEC_BUFFER_BYTES: String(bufferBytes), CODEX_MAX_PEERS_PER_ROOM: '1000', CODEX_MAX_ROOMS_PER_ADDRESS: '1000',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const base = `http://127.0.0.1:${serverPort}`;
  const wsBase = `ws://127.0.0.1:${serverPort}`;
  const cleanup = () => {
    server.kill('SIGTERM');
    engine.kill('SIGTERM');
  };
  process.on('exit', cleanup);
  await waitHttp(`${base}/healthz`);

  // warm up the engine (first python start), then the floor, three times, best kept
  await floorRun(engineUrl, 1);
  const floors = [];
  for (let i = 0; i < 3; i++) floors.push(await floorRun(engineUrl, mb));
  const floor = Math.min(...floors.map((f) => f.ms));

  const workers = await Promise.all(
    Array.from({ length: workerCount }, () => {
      const w = fork(HERE, ['worker'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      return w;
    }),
  );

  const rows = [];
  // the first scenario is a warm-up (JIT, first python start through the server), not reported
  for (const [i, watchers] of [1, ...watcherCounts].entries()) {
    const warmup = i === 0;
    const created = await (
      await fetch(`${base}/api/rooms`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ language: 'python' }) })
    ).json();
    await setProgram(wsBase, created, program(mb));
    const q = (token, name) => `/api/exec/${created.id}?token=${token}&name=${name}&hello=1`;

    // watchers spread across workers
    const per = workers.map((_, i) => Math.floor(watchers / workerCount) + (i < watchers % workerCount ? 1 : 0));
    await Promise.all(
      workers.map((w, i) =>
        per[i] === 0
          ? Promise.resolve()
          : new Promise((resolve) => {
              const on = (m) => m.cmd === 'connected' && (w.off('message', on), resolve());
              w.on('message', on);
              w.send({ cmd: 'connect', count: per[i], url: `${wsBase}${q(created.viewerToken, 'watcher')}` });
            }),
      ),
    );
    const stalled = await stalledParticipant(serverPort, q(created.viewerToken, 'stalled'));

    // the runner: an editor who starts the run
    const runner = new WebSocket(`${wsBase}${q(created.editorToken, 'runner')}`, { perMessageDeflate: false });
    await new Promise((r) => runner.once('message', r)); // hello

    const workersCpu = () =>
      Promise.all(
        workers.map(
          (w) =>
            new Promise((resolve) => {
              const on = (m) => m.cmd === 'cpu' && (w.off('message', on), resolve(m.ms));
              w.on('message', on);
              w.send({ cmd: 'cpu' });
            }),
        ),
      ).then((l) => l.reduce((a, b) => a + b, 0));
    const clientCpuBefore = await workersCpu();
    const before = procStat(server.pid);
    let peak = before.rss;
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, procStat(server.pid).rss);
      } catch {
        /* exiting */
      }
    }, 10);
    const dones = [];
    const allDone = new Promise((resolve) => {
      const on = (m) => {
        if (m.cmd !== 'done') return;
        dones.push(m);
        if (dones.length === watchers) resolve();
      };
      for (const w of workers) w.on('message', on);
    });
    const t0 = performance.timeOrigin + performance.now();
    runner.send(JSON.stringify({ type: 'run' }));
    await allDone;
    const last = Math.max(...dones.map((d) => d.at));
    clearInterval(sampler);
    const after = procStat(server.pid);
    peak = Math.max(peak, after.rss);
    for (const w of workers) w.removeAllListeners('message');
    const clientCpu = (await workersCpu()) - clientCpuBefore;
    const ms = last - t0;
    const bytesOk = dones.every((d) => d.bytes === dones[0].bytes);
    const gaps = dones.reduce((n, d) => n + d.gaps, 0);
    if (!warmup) rows.push({
      watchers,
      ms,
      ratio: ms / floor,
      cpu: after.cpuMs - before.cpuMs,
      clientCpu,
      rssBefore: before.rss,
      peak,
      bytesOk,
      gaps,
      bytes: Math.max(...dones.map((d) => d.bytes)),
    });
    runner.close();
    stalled.destroy();
    for (const w of workers) w.send({ cmd: 'close-room' });
  }

  // report
  const mbStr = (b) => (b / 1024 / 1024).toFixed(0);
  console.log(`\nbench:exec — one run printing ${mb} MiB (python), one extra participant stalled on purpose, ${workerCount} watcher processes, ${(await import('node:os')).cpus().length} cores`);
  console.log(`floor (one client straight on the engine's /api/v2/connect): ${floor.toFixed(0)} ms (runs: ${floors.map((f) => f.ms.toFixed(0)).join(', ')}; ${(floors[0].bytes / 1024 / 1024).toFixed(1)} MiB of JSON data frames)\n`);
  console.log(`replay buffer ${mbStr(bufferBytes)} MiB; output frames per watcher ${(rows[0]?.bytes / 1024 / 1024).toFixed(1)} MiB of JSON\n`);
  console.log("| watchers | last byte at the last watcher | vs floor | server CPU | watchers' CPU (all processes) | server RSS before → peak | every watcher got every frame |");
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | :---: |');
  for (const r of rows) {
    console.log(
      `| ${r.watchers} | ${r.ms.toFixed(0)} ms | ${r.ratio.toFixed(2)}× | ${r.cpu.toFixed(0)} ms | ${r.clientCpu.toFixed(0)} ms | ${mbStr(r.rssBefore)} → ${mbStr(r.peak)} MiB | ${r.bytesOk && r.gaps === 0 ? 'yes' : `no (${r.gaps} gap frames)`} |`,
    );
  }
  for (const w of workers) w.kill();
  cleanup();
  rmSync(dataDir, { recursive: true, force: true });
  process.exit(0);
}

/** Replaces the room's entry file with `text` through a real y-websocket provider. */
async function setProgram(wsBase, created, text) {
  const Y = await import('yjs');
  const { WebsocketProvider } = await import('y-websocket');
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(`${wsBase}/yjs`, created.id, doc, {
    params: { token: created.ownerToken },
    WebSocketPolyfill: WebSocket,
    disableBc: true,
  });
  await new Promise((r) => (provider.synced ? r() : provider.once('synced', r)));
  const files = doc.getMap('files');
  const entry = doc.getMap('room').get('entry');
  const ytext = files.get(entry).get('text');
  doc.transact(() => {
    ytext.delete(0, ytext.length);
    ytext.insert(0, text);
  });
  // a second provider seeing it proves the server has it
  const doc2 = new Y.Doc();
  const p2 = new WebsocketProvider(`${wsBase}/yjs`, created.id, doc2, { params: { token: created.viewerToken }, WebSocketPolyfill: WebSocket, disableBc: true });
  await new Promise((resolve) => {
    const check = () => {
      const f = doc2.getMap('files').get(entry);
      if (f && f.get('text').toString() === text) resolve();
    };
    doc2.on('update', check);
    check();
  });
  p2.destroy();
  provider.destroy();
}

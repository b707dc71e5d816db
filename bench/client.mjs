// npm run bench:client — the room page's production weight and its time to interactive.
//  1. bundle: every file the room page loads in Chromium (index.html, JS, CSS, the room language's
//     grammar, xterm), gzip-compressed here at level 9 the way a server would serve them; the home
//     page for comparison.
//  2. time to interactive: a room holding a 5,000-line Python file, opened in a fresh headless
//     Chromium context; measured from navigation start to the editor bound to the synced document
//     (performance mark `codex:editor-ready`), then to the grammar loaded, then a keystroke's round
//     trip into the editor. Median and worst of N runs.
// Reference: the goals, room page < 500 KB gzip and interactive < 1 s.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = path.join(ROOT, 'client/dist');
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const LINES = 5000;

if (!existsSync(path.join(DIST, 'index.html'))) throw new Error('client/dist is missing: run `npm run build` first');

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

async function startServer() {
  const port = await freePort();
  const child = spawn(process.execPath, ['server/dist/main.js'], {
    cwd: ROOT,
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), CODEX_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'codex-bench-client-')), CODEX_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch (e) {
      if (i > 0 && i % 100 === 0) console.error(String(e), e.cause);
    }
    if (i > 600) throw new Error('server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  // Ready = storage and the execution engine answer (the pages ask for the runtime list).
  for (let i = 0; !(await fetch(`${url}/readyz`)).ok; i++) {
    if (i > 600) throw new Error('server not ready');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, port, stop: () => new Promise((r) => (child.once('exit', r), child.kill('SIGTERM'))) };
}

/** Fills the room's entry file with LINES lines through a real y-websocket client, and waits until a second client sees them. */
async function fillRoom(url, room) {
  const ws = url.replace('http', 'ws') + '/yjs';
  const token = new URL(room.ownerUrl, url).searchParams.get('token');
  const connect = (doc) =>
    new Promise((resolve) => {
      const p = new WebsocketProvider(ws, room.id, doc, { params: { token }, WebSocketPolyfill: WebSocket, disableBc: true });
      p.on('sync', (s) => s && resolve(p));
    });
  const doc = new Y.Doc();
  const p = await connect(doc);
  const entry = doc.getMap('room').get('entry');
  const text = doc.getMap('files').get(entry).get('text');
  const body = Array.from({ length: LINES }, (_, i) => `value_${i} = ${i} * 2  # line ${i + 1} of a long program`).join('\n');
  doc.transact(() => {
    text.delete(0, text.length);
    text.insert(0, body);
  });
  const check = new Y.Doc();
  const q = await connect(check);
  while (check.getMap('files').get(entry)?.get('text')?.toString().split('\n').length !== LINES) await new Promise((r) => setTimeout(r, 50));
  p.destroy();
  q.destroy();
}

const gz = (file) => gzipSync(readFileSync(file), { level: 9 }).length;

async function pageWeight(browser, url) {
  const ctx = await browser.newContext();
  await ctx.addInitScript(() => localStorage.setItem('codex.displayName', 'Bench'));
  const page = await ctx.newPage();
  const files = new Set();
  page.on('response', (res) => {
    const u = new URL(res.url());
    if (u.pathname.startsWith('/assets/')) files.add(u.pathname);
  });
  await page.goto(url);
  return { page, ctx, files };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const kb = (b) => `${(b / 1024).toFixed(1)} KB`;
const ms = (x) => `${Math.round(x)} ms`;

const server = await startServer();
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const create = await fetch(`${server.url}/api/rooms`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench', language: 'python' }) });
  const room = await create.json();
  await fillRoom(server.url, room);

  // 1. Weight of the room page and of the home page.
  const roomLoad = await pageWeight(browser, server.url + room.ownerUrl);
  await roomLoad.page.waitForSelector('[data-testid=terminal][data-ready=true]', { timeout: 30_000 });
  await roomLoad.page.waitForFunction(() => performance.getEntriesByName('codex:language-ready').length > 0, null, { timeout: 30_000 });
  await roomLoad.ctx.close();
  const homeLoad = await pageWeight(browser, server.url + '/');
  await homeLoad.page.waitForSelector('select#room-language', { timeout: 30_000 }).catch(async (e) => {
    console.error((await homeLoad.page.content()).slice(0, 2000));
    throw e;
  });
  await homeLoad.ctx.close();
  const htmlGz = gz(path.join(DIST, 'index.html'));
  const weigh = (files) => [...files].reduce((sum, f) => sum + gz(path.join(DIST, f)), htmlGz);
  const roomBytes = weigh(roomLoad.files);
  const homeBytes = weigh(homeLoad.files);
  const rows = [...roomLoad.files].map((f) => [f.replace('/assets/', ''), gz(path.join(DIST, f))]).sort((a, b) => b[1] - a[1]);

  // 2. Time to interactive with a 5,000-line file, fresh context (cold cache) each run.
  const ready = [];
  const lang = [];
  const key = [];
  for (let i = 0; i < RUNS; i++) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await ctx.addInitScript(() => localStorage.setItem('codex.displayName', 'Bench'));
    const page = await ctx.newPage();
    await page.goto(server.url + room.ownerUrl);
    await page.waitForFunction(() => performance.getEntriesByName('codex:editor-ready').length > 0, null, { timeout: 30_000 });
    await page.waitForFunction(() => performance.getEntriesByName('codex:language-ready').length > 0, null, { timeout: 30_000 });
    const marks = await page.evaluate(() => ({
      ready: performance.getEntriesByName('codex:editor-ready')[0].startTime,
      lang: performance.getEntriesByName('codex:language-ready')[0].startTime,
    }));
    // Interactive: a keystroke lands in the 5,000-line document and shows on screen.
    await page.click('.cm-content');
    const t = await page.evaluate(
      () =>
        new Promise((resolve) => {
          const t0 = performance.now();
          const content = document.querySelector('.cm-content');
          const obs = new MutationObserver(() => {
            if (content.textContent.includes('Ω')) {
              obs.disconnect();
              resolve(performance.now() - t0);
            }
          });
          obs.observe(content, { subtree: true, characterData: true, childList: true });
          document.execCommand('insertText', false, 'Ω');
        }),
    );
    ready.push(marks.ready);
    lang.push(marks.lang);
    key.push(t);
    await ctx.close();
  }

  const lines = [];
  lines.push(`bench:client — ${new Date().toISOString()} — Chromium ${browser.version()} headless, ${RUNS} cold loads, room file of ${LINES} lines`);
  lines.push('');
  lines.push('| measure | value | goal | ok |');
  lines.push('| --- | --- | --- | --- |');
  lines.push(`| room page, all files loaded, gzip | ${kb(roomBytes)} | < 500 KB | ${roomBytes < 500 * 1024 ? 'yes' : 'NO'} |`);
  lines.push(`| home page, gzip | ${kb(homeBytes)} | (reference) | |`);
  lines.push(`| editor ready with the synced 5,000-line file (median / worst) | ${ms(median(ready))} / ${ms(Math.max(...ready))} | < 1 s | ${Math.max(...ready) < 1000 ? 'yes' : median(ready) < 1000 ? 'median yes' : 'NO'} |`);
  lines.push(`| + Python grammar loaded (median / worst) | ${ms(median(lang))} / ${ms(Math.max(...lang))} | < 1 s | ${Math.max(...lang) < 1000 ? 'yes' : median(lang) < 1000 ? 'median yes' : 'NO'} |`);
  lines.push(`| a keystroke into the 5,000-line file, on screen (median / worst) | ${ms(median(key))} / ${ms(Math.max(...key))} | | |`);
  lines.push('');
  lines.push('| room page file | gzip |');
  lines.push('| --- | --- |');
  lines.push(`| index.html | ${kb(htmlGz)} |`);
  for (const [f, b] of rows) lines.push(`| ${f} | ${kb(b)} |`);
  console.log(lines.join('\n'));
} finally {
  await browser.close();
  await server.stop();
}
// Chromium's pipes and the filler's socket can outlive their close() by a while; the figures are out.
process.exit(process.exitCode ?? 0);

/**
 * The browser suite's harness: builds what is stale, runs the real server (`node server/dist/main.js`)
 * on 127.0.0.1 with a temp data dir, and drives Debian's Chromium through playwright-core.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { freePort } from '../../server/test/helpers/free-port.js';

/** The repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Where screenshots go (gitignored). */
export const ARTIFACTS = path.join(ROOT, 'test-artifacts');

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Builds the server (tsc -b) when its output is missing and the client when client/dist is older than its sources. */
export function ensureBuilt(): void {
  if (!existsSync(path.join(ROOT, 'server/dist/main.js'))) execFileSync('npx', ['tsc', '-b'], { cwd: ROOT, stdio: 'inherit' });
  const index = path.join(ROOT, 'client/dist/index.html');
  const srcTime = Math.max(newest(path.join(ROOT, 'client/src')), newest(path.join(ROOT, 'shared/src')), statSync(path.join(ROOT, 'client/index.html')).mtimeMs);
  if (!existsSync(index) || statSync(index).mtimeMs < srcTime) execFileSync('npm', ['run', 'build', '-w', 'client'], { cwd: ROOT, stdio: 'inherit' });
}

export { freePort };

/** A running server child process. */
export interface ServerHandle {
  url: string;
  port: number;
  dataDir: string;
  output(): string;
  /** SIGTERM (graceful: flush, close sockets) and wait for the exit. */
  stop(): Promise<void>;
}

/** Starts `node server/dist/main.js` and resolves once /healthz answers. */
export async function startServer(opts: { port?: number; dataDir?: string; env?: Record<string, string> } = {}): Promise<ServerHandle> {
  const port = opts.port ?? (await freePort());
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(tmpdir(), 'codex-e2e-'));
  const child: ChildProcess = spawn(process.execPath, ['server/dist/main.js'], {
    cwd: ROOT,
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), CODEX_DATA_DIR: dataDir, CODEX_LOG_LEVEL: 'warn', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited early (${child.exitCode}):\n${out}`);
    try {
      if ((await fetch(`${url}/healthz`)).status === 200) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server not up after 60 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    port,
    dataDir,
    output: () => out,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Waits until `/readyz` answers 200 (storage and the execution engine are up), or throws with its last answer. */
export async function waitReady(url: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.status === 200) return;
      last = `${res.status} ${await res.text()}`;
    } catch (e) {
      last = String(e);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`not ready: ${last}`);
}

/** The contract's `POST /api/rooms` answer. */
export interface Room {
  id: string;
  ownerUrl: string;
  editorUrl: string;
  viewerUrl: string;
}

/** Creates a room through the HTTP API. */
export async function createRoom(url: string, body: { name?: string; language?: string } = {}): Promise<Room> {
  const res = await fetch(`${url}/api/rooms`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 201) throw new Error(`POST /api/rooms: ${res.status} ${await res.text()}`);
  return (await res.json()) as Room;
}

/** Debian's Chromium, headless. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A browser context for one person: their display name is already remembered, so the room opens directly. */
export async function personContext(browser: Browser, name: string, viewport = { width: 1280, height: 800 }): Promise<BrowserContext> {
  const ctx = await browser.newContext({ viewport });
  await ctx.addInitScript((n: string) => localStorage.setItem('codex.displayName', n), name);
  return ctx;
}

/** Opens a room link and waits until its editor shows the synced document. */
export async function openRoom(ctx: BrowserContext, base: string, link: string): Promise<Page> {
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  await page.goto(base + link);
  await page.waitForSelector('[data-testid=editor][data-ready=true] .cm-content', { timeout: 30_000 });
  return page;
}

/** The text of a page's editor. */
export function editorText(page: Page): Promise<string> {
  // Remote cursors are widgets inside the lines: drop them from a copy before reading the text.
  return page.$eval('[data-testid=editor] .cm-content', (el) =>
    Array.from(el.querySelectorAll('.cm-line'), (l) => {
      const copy = l.cloneNode(true) as HTMLElement;
      copy.querySelectorAll('.cm-ySelectionCaret, .cm-widgetBuffer').forEach((w) => w.remove());
      return copy.textContent ?? '';
    }).join('\n'),
  );
}

/** The visible text of a page's terminal (xterm's DOM rows), lines trimmed. */
export function terminalText(page: Page): Promise<string> {
  return page.$eval('[data-testid=terminal] .xterm-rows', (el) =>
    Array.from(el.children, (r) => (r.textContent ?? '').replace(/\u00a0/g, ' ').trimEnd())
      .join('\n')
      .trimEnd(),
  );
}

/** Makes the artifacts folder and returns a path in it. */
export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, name);
}

/** One server and one browser shared by a file's tests (`server` may be replaced, e.g. by a restart). */
export interface Session {
  server: ServerHandle;
  browser: Browser;
}

/**
 * Starts a server and Chromium before the file's tests and stops both after them. With
 * `ready`, waits until the server can run programs too.
 */
export function useSession(opts: { ready?: boolean } = {}): Session {
  let server: ServerHandle | undefined;
  let browser: Browser | undefined;
  beforeAll(async () => {
    server = await startServer();
    if (opts.ready) await waitReady(server.url);
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });
  const started = <T>(x: T | undefined, what: string): T => {
    if (x === undefined) throw new Error(`${what} not started (used outside a test?)`);
    return x;
  };
  return {
    get server() {
      return started(server, 'server');
    },
    set server(s: ServerHandle) {
      server = s;
    },
    get browser() {
      return started(browser, 'browser');
    },
  };
}

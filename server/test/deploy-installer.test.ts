// deploy/install-packages.mjs (the compose `installer` service), run as a real process against a
// stand-in for Piston's package endpoints. A stand-in because a real Piston needs Docker, a
// privileged container and its package index on the internet, none of which this machine has;
// it answers with the statuses and bodies of Piston's api/src/package.js (PISTON-API.md §5),
// and it can "crash" the way Piston does when its index is unreachable (the request gets no
// answer and the server is gone for a moment).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../../deploy/install-packages.mjs', import.meta.url));

/** What the stand-in knows: the package index, and how each package shows in /runtimes. */
const INDEX: Record<string, { language: string; runtime?: string }[]> = {
  'python=3.12.0': [{ language: 'python' }],
  'node=20.11.1': [{ language: 'javascript', runtime: 'node' }],
  'gcc=10.2.0': [{ language: 'c', runtime: 'gcc' }, { language: 'c++', runtime: 'gcc' }],
  'bash=5.2.0': [{ language: 'bash' }],
};

interface FakePiston {
  url: string;
  installed: Set<string>;
  /** installed packages left out of /runtimes */
  unlisted: Set<string>;
  /** every request, as "METHOD /path [body]" */
  log: string[];
  /** the next n POSTs /packages drop the connection and take the server down for `downMs` */
  crashNextInstalls: number;
  downMs: number;
  /** /runtimes answers with connection drops until this many requests have been made */
  unreachableFor: number;
  close(): Promise<void>;
}

async function fakePiston(installed: string[] = []): Promise<FakePiston> {
  let downUntil = 0;
  let requests = 0;
  const state = { installed: new Set(installed), unlisted: new Set<string>(), log: [] as string[], crashNextInstalls: 0, downMs: 300, unreachableFor: 0 };
  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let body = '';
    for await (const chunk of req) body += String(chunk);
    requests++;
    state.log.push(`${req.method} ${req.url}${body ? ` ${body}` : ''}`);
    if (Date.now() < downUntil || requests <= state.unreachableFor) {
      req.socket.destroy();
      return;
    }
    if (req.method === 'GET' && req.url === '/api/v2/runtimes') {
      const list = [...state.installed].filter((key) => !state.unlisted.has(key)).flatMap((key) =>
        (INDEX[key] ?? []).map((r) => ({ language: r.language, version: key.split('=')[1], aliases: [], ...(r.runtime ? { runtime: r.runtime } : {}) })),
      );
      json(res, 200, list);
      return;
    }
    if (req.method === 'POST' && req.url === '/api/v2/packages') {
      if (!String(req.headers['content-type']).startsWith('application/json')) {
        json(res, 415, { message: 'requests must be of type application/json' });
        return;
      }
      if (state.crashNextInstalls > 0) {
        // Piston's process exits on an unreachable index: no answer, then down until restarted.
        state.crashNextInstalls--;
        downUntil = Date.now() + state.downMs;
        req.socket.destroy();
        return;
      }
      const { language, version } = JSON.parse(body) as { language?: string; version?: string };
      const key = `${language}=${version}`;
      if (!(key in INDEX)) {
        json(res, 404, { message: `Requested package ${String(language)}-${String(version)} does not exist` });
        return;
      }
      if (state.installed.has(key)) {
        json(res, 500, { message: 'Already installed' });
        return;
      }
      state.installed.add(key);
      json(res, 200, { language, version });
      return;
    }
    json(res, 404, { message: 'Not Found' });
  };
  const server: Server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const fake: FakePiston = Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  });
  return fake;
}

interface InstallerRun {
  code: number | null;
  output: string;
  heartbeat: string;
}

function runInstaller(env: Record<string, string>): Promise<InstallerRun> {
  const dir = mkdtempSync(path.join(tmpdir(), 'codex-installer-'));
  const heartbeatFile = path.join(dir, 'heartbeat');
  const child = spawn(process.execPath, [script], {
    env: { PATH: process.env.PATH ?? '', INSTALLER_HEARTBEAT: heartbeatFile, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return new Promise((resolve) => {
    child.on('close', (code) => {
      let heartbeat = '';
      try {
        heartbeat = readFileSync(heartbeatFile, 'utf8');
      } catch {
        /* never written */
      }
      rmSync(dir, { recursive: true, force: true });
      resolve({ code, output, heartbeat });
    });
  });
}

const posts = (f: FakePiston): string[] => f.log.filter((l) => l.startsWith('POST'));
let fake: FakePiston | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

describe('deploy/install-packages.mjs', () => {
  it('installs every listed package and exits 0 once all are present', async () => {
    fake = await fakePiston();
    const run = await runInstaller({ PISTON_URL: fake.url, PISTON_PACKAGES: 'python=3.12.0 node=20.11.1,gcc=10.2.0' });
    expect(run.code, run.output).toBe(0);
    expect([...fake.installed].sort()).toEqual(['gcc=10.2.0', 'node=20.11.1', 'python=3.12.0']);
    expect(posts(fake)).toEqual([
      'POST /api/v2/packages {"language":"python","version":"3.12.0"}',
      'POST /api/v2/packages {"language":"node","version":"20.11.1"}',
      'POST /api/v2/packages {"language":"gcc","version":"10.2.0"}',
    ]);
    expect(run.output).toContain('all 3 packages present');
    expect(run.heartbeat).toMatch(/ done\n$/);
  });

  it('asks nothing of the package index when /runtimes already lists every package', async () => {
    // a restart with the packages on the volume must work without internet (the index is
    // fetched on every package request, and an unreachable index crashes Piston)
    fake = await fakePiston(['python=3.12.0', 'node=20.11.1', 'gcc=10.2.0']);
    const run = await runInstaller({ PISTON_URL: fake.url, PISTON_PACKAGES: 'python=3.12.0 node=20.11.1 gcc=10.2.0' });
    expect(run.code, run.output).toBe(0);
    expect(posts(fake)).toEqual([]);
  });

  it('counts "Already installed" as success', async () => {
    // installed, but not recognisable in /runtimes: the POST meets Piston's 500 "Already installed"
    fake = await fakePiston(['bash=5.2.0']);
    fake.unlisted.add('bash=5.2.0');
    const run = await runInstaller({ PISTON_URL: fake.url, PISTON_PACKAGES: 'bash=5.2.0' });
    expect(run.code, run.output).toBe(0);
    expect(posts(fake)).toEqual(['POST /api/v2/packages {"language":"bash","version":"5.2.0"}']);
    expect(run.output).toContain('bash=5.2.0 installed');
  });

  it('waits for Piston to come up, and survives Piston crashing during an install', async () => {
    fake = await fakePiston();
    fake.unreachableFor = 3;
    fake.crashNextInstalls = 2;
    const run = await runInstaller({ PISTON_URL: fake.url, PISTON_PACKAGES: 'python=3.12.0 bash=5.2.0' });
    expect(run.code, run.output).toBe(0);
    expect([...fake.installed].sort()).toEqual(['bash=5.2.0', 'python=3.12.0']);
    expect(run.output).toContain('waiting for Piston');
    expect(run.output).toMatch(/python=3\.12\.0: no answer .*retrying/);
  });

  it('fails at once, naming the package, when it is not in the index', async () => {
    fake = await fakePiston();
    const run = await runInstaller({ PISTON_URL: fake.url, PISTON_PACKAGES: 'python=3.12.0 cobol=9.9.9 bash=5.2.0' });
    expect(run.code).toBe(1);
    expect(run.output).toContain('cobol=9.9.9: Requested package cobol-9.9.9 does not exist');
    expect(fake.installed.has('bash=5.2.0')).toBe(false);
  });

  it('gives up after PISTON_INSTALL_TIMEOUT when Piston never answers', async () => {
    fake = await fakePiston();
    fake.unreachableFor = Number.MAX_SAFE_INTEGER;
    const started = Date.now();
    const run = await runInstaller({ PISTON_URL: fake.url, PISTON_PACKAGES: 'python=3.12.0', PISTON_INSTALL_TIMEOUT: '1' });
    expect(run.code).toBe(1);
    expect(run.output).toContain('gave up after PISTON_INSTALL_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('rejects a malformed package list before contacting Piston', async () => {
    fake = await fakePiston();
    const run = await runInstaller({ PISTON_URL: fake.url, PISTON_PACKAGES: 'python' });
    expect(run.code).toBe(2);
    expect(run.output).toContain('"python" is not name=version');
    expect(fake.log).toEqual([]);
  });

  it('has nothing to do for an empty list', async () => {
    const run = await runInstaller({ PISTON_URL: 'http://127.0.0.1:9', PISTON_PACKAGES: '' });
    expect(run.code).toBe(0);
  });
});

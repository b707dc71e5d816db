/**
 * Test helpers for the embedded engine: start it in-process on 127.0.0.1:0 with a given
 * environment, call its HTTP API, and talk to `/api/v2/connect` with a real `ws` client.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { loadConfig, type Config } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { startEmbeddedEngine, type EmbeddedEngine } from '../../src/exec/engine/embedded.js';
import type { Engine } from '../../src/exec/engine/engine.js';
import type { ExecuteResponse } from '../../src/exec/piston/protocol.js';

/** Piston's own defaults, as the fixtures were recorded (PISTON-API.md §12). */
export const RECORDING_ENV: Readonly<Record<string, string>> = {
  PISTON_RUN_TIMEOUT: '3000', PISTON_COMPILE_TIMEOUT: '10000', PISTON_RUN_CPU_TIME: '3000', PISTON_COMPILE_CPU_TIME: '10000',
  PISTON_OUTPUT_MAX_SIZE: '1024', PISTON_RUN_MEMORY_LIMIT: '-1', PISTON_COMPILE_MEMORY_LIMIT: '-1',
  PISTON_MAX_PROCESS_COUNT: '64', PISTON_MAX_OPEN_FILES: '2048', PISTON_MAX_FILE_SIZE: '10000000',
  PISTON_DISABLE_NETWORKING: 'true', PISTON_MAX_CONCURRENT_JOBS: '64',
};

/** A started engine for a test. */
export type TestEngine = EmbeddedEngine & { readonly engine: Engine; config: Config; wsUrl: string };

/** Starts the engine with `env` parsed exactly as `npm run engine` would. */
export async function startEngine(env: Record<string, string> = {}): Promise<TestEngine> {
  const config = loadConfig({ CODEX_LOG_LEVEL: 'silent', ...env });
  const e = await startEmbeddedEngine(config, silentLogger());
  return Object.assign(e, { config, wsUrl: e.url.replace(/^http/, 'ws') });
}

/** An execute answer as tests read it. */
export type Answer = ExecuteResponse & { message?: string };

/** POST /api/v2/execute; the status and parsed body (a result, or Piston's `{message}` error). */
export async function execute(url: string, body: unknown): Promise<{ status: number; body: Answer }> {
  const res = await fetch(`${url}/api/v2/execute`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Answer };
}

/** Runs `code` in `language` and returns the run stage. */
export async function run(url: string, language: string, code: string, extra: Record<string, unknown> = {}): Promise<ExecuteResponse> {
  const r = await execute(url, { language, version: '*', files: [{ content: code }], ...extra });
  if (r.status !== 200) throw new Error(`execute answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

/** A frame received over /connect, or the close. */
export type Received = Record<string, unknown>;

/**
 * A /connect conversation: `sent` frames are sent one by one, each once `waitFor(received)` says so
 * (default: immediately); resolves with every frame received and the close as
 * `{"type":"(websocket close frame)", code, reason}`, the fixtures' notation.
 */
export function converse(
  wsUrl: string, sent: readonly (Record<string, unknown> | string)[],
  waitFor: (index: number, received: readonly Received[]) => boolean = () => true,
): Promise<Received[]> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${wsUrl}/api/v2/connect`);
    const received: Received[] = [];
    let next = 0;
    const pump = (): void => {
      while (next < sent.length && ws.readyState === WebSocket.OPEN && waitFor(next, received)) {
        const m = sent[next++] as Record<string, unknown> | string;
        ws.send(typeof m === 'string' ? m : JSON.stringify(m));
      }
    };
    ws.on('open', pump);
    ws.on('message', (d) => {
      received.push(JSON.parse(d.toString()) as Received);
      pump();
    });
    ws.on('close', (code, reason) => {
      received.push({ type: '(websocket close frame)', code, reason: reason.toString() });
      resolve(received);
    });
    ws.on('error', reject);
  });
}

/** One recorded Piston fixture (PISTON-API.md §10). */
export interface Fixture {
  name: string;
  description: string;
  transport: 'http' | 'websocket';
  volatile: string[];
  request?: { method: string; path: string; headers: Record<string, string>; body?: unknown; raw_body?: string };
  response?: { status: number; headers: Record<string, string>; body?: unknown; raw_body?: string };
  sent?: (Record<string, unknown> & { raw?: string })[];
  received?: Received[];
  sequence?: { dir?: string; event?: string; t_ms: number; message?: Received; close?: unknown }[];
}

/** Every fixture, from the repo's copy of ../shared/piston-fixtures. */
export function loadFixtures(): Fixture[] {
  const dir = fileURLToPath(new URL('./piston-fixtures/', import.meta.url));
  return readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
    .map((f) => JSON.parse(readFileSync(`${dir}${f}`, 'utf8')) as Fixture);
}

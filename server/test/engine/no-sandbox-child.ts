/**
 * Child process for engine-no-sandbox.test.ts: started where user namespaces cannot be created, it
 * starts the engine, tries a job over HTTP and over /connect, and prints one JSON line of results.
 */
import { WebSocket } from 'ws';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { startEmbeddedEngine } from '../../src/exec/engine/embedded.js';

const config = loadConfig({ ...process.env, CODEX_LOG_LEVEL: 'warn' });
const engine = await startEmbeddedEngine(config, createLogger('warn'));
const res = await fetch(`${engine.url}/api/v2/execute`, {
  method: 'POST', headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ language: 'python', version: '*', files: [{ content: 'print("ran")' }] }),
});
const execute = { status: res.status, body: (await res.json()) as unknown };
const frames = await new Promise<unknown[]>((resolve) => {
  const ws = new WebSocket(`${engine.url.replace('http', 'ws')}/api/v2/connect`);
  const got: unknown[] = [];
  ws.on('open', () => ws.send(JSON.stringify({ type: 'init', language: 'python', version: '*', files: [{ content: 'print("ran")' }] })));
  ws.on('message', (d) => got.push(JSON.parse(String(d))));
  ws.on('close', (code) => resolve([...got, { close: code }]));
});
const runtimes = (await (await fetch(`${engine.url}/api/v2/runtimes`)).json()) as unknown[];
process.stdout.write(`RESULT ${JSON.stringify({ problem: engine.problem(), execute, frames, runtimes: runtimes.length })}\n`);
await engine.close();

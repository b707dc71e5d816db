/**
 * `npm run engine` (server/src/exec/engine/main.ts) on its own: binds where PISTON_BIND_ADDRESS (or HOST
 * and PORT) says, answers as Piston, stops cleanly on SIGTERM, and refuses a bad address.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const main = fileURLToPath(new URL('../src/exec/engine/main.ts', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));

function start(env: Record<string, string>): { p: ChildProcess; address: Promise<string>; exit: Promise<{ code: number | null; out: string }> } {
  const p = spawn('/usr/bin/node', ['--import', 'tsx', main], { cwd: root, env: { PATH: '/usr/bin:/bin', HOME: '/tmp', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let found: (a: string) => void = () => undefined;
  const address = new Promise<string>((resolve) => { found = resolve; });
  const onData = (d: Buffer): void => {
    out += d.toString();
    const m = /"address":"([^"]+)"/.exec(out);
    if (m?.[1]) found(m[1]);
  };
  p.stdout?.on('data', onData);
  p.stderr?.on('data', onData);
  const exit = new Promise<{ code: number | null; out: string }>((resolve) => p.on('close', (code) => resolve({ code, out })));
  return { p, address, exit };
}

it('serves Piston on PISTON_BIND_ADDRESS and stops on SIGTERM', async () => {
  const e = start({ PISTON_BIND_ADDRESS: '127.0.0.1:0' });
  const address = await e.address;
  expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
  expect(await (await fetch(`http://${address}/`)).json()).toEqual({ message: 'Piston v3.1.1' });
  const r = await fetch(`http://${address}/api/v2/execute`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ language: 'bash', version: '*', files: [{ content: 'echo OK' }] }),
  });
  expect(((await r.json()) as { run: { stdout: string } }).run.stdout).toBe('OK\n');
  e.p.kill('SIGTERM');
  expect((await e.exit).code).toBe(0);
}, 60_000);

it('uses HOST and PORT when PISTON_BIND_ADDRESS is unset', async () => {
  const e = start({ HOST: '127.0.0.1', PORT: '0' });
  expect(await e.address).toMatch(/^127\.0\.0\.1:\d+$/);
  e.p.kill('SIGTERM');
  expect((await e.exit).code).toBe(0);
}, 60_000);

it('refuses a malformed PISTON_BIND_ADDRESS', async () => {
  const e = start({ PISTON_BIND_ADDRESS: 'nonsense' });
  const { code, out } = await e.exit;
  expect(code).toBe(2);
  expect(out).toContain('PISTON_BIND_ADDRESS="nonsense" is not valid: expected host:port');
}, 60_000);

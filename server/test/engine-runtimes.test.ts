/**
 * Every runtime the host has: found with its real version and Piston's names, and its Piston test
 * program prints OK through the real sandbox (compiled languages through the compile stage).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execute, startEngine, type TestEngine } from './engine/harness.js';

const EXPECTED = ['c', 'c++', 'java', 'javascript', 'python', 'bash', 'ruby', 'go', 'rust', 'typescript'];
const COMPILED = new Set(['c', 'c++', 'go', 'rust', 'typescript']);

let eng: TestEngine;
beforeAll(async () => {
  eng = await startEngine({ PISTON_RUN_TIMEOUT: '10000', PISTON_COMPILE_TIMEOUT: '20000', PISTON_COMPILE_CPU_TIME: '20000', PISTON_MAX_CONCURRENT_JOBS: '2' });
}, 60_000);
afterAll(async () => {
  await eng.close();
});

it('lists every runtime of this host, with real versions and Piston aliases', async () => {
  const list = (await (await fetch(`${eng.url}/api/v2/runtimes`)).json()) as { language: string; version: string; aliases: string[]; runtime?: string }[];
  expect(list.map((r) => r.language)).toEqual(EXPECTED);
  for (const r of list) expect(r.version).toMatch(/^\d+\.\d+(\.\d+)?$/);
  expect(list.find((r) => r.language === 'python')?.aliases).toContain('py');
  expect(list.find((r) => r.language === 'c++')).toMatchObject({ aliases: ['cpp', 'g++'], runtime: 'gcc' });
  expect(list.find((r) => r.language === 'javascript')).toMatchObject({ runtime: 'node' });
});

describe.concurrent('test programs print OK', () => {
  for (const language of EXPECTED) {
    it(language, async () => {
      const rt = eng.engine.runtimes.find((r) => r.language === language);
      expect(rt).toBeDefined();
      const test = rt?.test as { file: string; content: string };
      const r = await execute(eng.url, { language, version: '*', files: [{ content: test.content }] });
      expect(r.status).toBe(200);
      expect(r.body.language).toBe(language);
      if (COMPILED.has(language)) expect(r.body.compile).toMatchObject({ code: 0, status: null });
      else expect(r.body.compile).toBeUndefined();
      expect(r.body.run.stdout.trim()).toBe('OK');
      expect(r.body.run).toMatchObject({ code: 0, signal: null, status: null, message: null });
    }, 60_000);
  }
});

it('compile errors stop the job before run, for each compiled language', async () => {
  const bad: Record<string, string> = {
    'c++': 'int main() { return x; }', go: 'package main\nfunc main() { x }\n', rust: 'fn main() { x }', typescript: 'const a: number = "s";',
  };
  const results = await Promise.all(Object.entries(bad).map(([language, content]) =>
    execute(eng.url, { language, version: '*', files: [{ content }] })));
  for (const r of results) {
    expect(r.body.compile?.code).not.toBe(0);
    expect(r.body.compile?.status).toBe('RE');
    expect(r.body.run).toEqual(r.body.compile); // Piston: run is a copy of the failed compile
  }
}, 120_000);

/**
 * Conformance: every recorded Piston fixture (PISTON-API.md §10) replayed against the embedded engine
 * started with the recording Piston's configuration (§12). Answers must equal Piston's except the
 * fields each fixture marks volatile, the host's runtime versions, the result fields our newer result
 * shape adds, and the deliberate differences listed in DIFFERENCES (each with its reason; docs/engine.md).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RECORDING_ENV, converse, type Answer, loadFixtures, startEngine, type Fixture, type Received, type TestEngine } from './engine/harness.js';

/** Keys our stage results add (the newest era's superset, §12). */
const ADDED_STAGE_KEYS = new Set(['message', 'status', 'cpu_time', 'wall_time', 'memory']);

/** Fixtures where we answer differently on purpose: what we answer instead. */
const DIFFERENCES: Record<string, (status: number, body: Answer & { stack?: unknown }) => void> = {
  // §12: Piston's 500 with an empty body / 400 with a stack trace are defects; we name the field
  'error-args-number': (s, b) => { expect(s).toBe(400); expect(b.message).toMatch(/^args /); },
  'error-path-escape': (s, b) => { expect(s).toBe(400); expect(b.message).toMatch(/^files\[0\]\.name /); },
  'error-malformed-json': (s, b) => { expect(s).toBe(400); expect(b.message).toMatch(/not valid JSON/); expect(b.stack).toBeUndefined(); },
  // our sandbox: HOME=/tmp, plain PATH, a fixed uid 1000 inside the user namespace; same cwd and PISTON_LANGUAGE
  'execute-env-and-cwd': (s, b) => {
    expect(s).toBe(200);
    const out: string = b.run.stdout;
    expect(out).toMatch(/^1000\n\/piston\/jobs\/[0-9a-f-]{36}\n/);
    expect(out).toContain('PISTON_LANGUAGE=bash\n');
    expect(out).toMatch(/-rw-r--r-- 1 runner runner\s+31 .* file0\.code\n/);
    expect(out).not.toMatch(/CODEX_|PISTON_(?!LANGUAGE)|VITEST|NODE_/);
  },
};

/** WebSocket fixtures whose frames differ on purpose. */
const WS_DIFFERENCES: Record<string, (received: Received[]) => void> = {
  // signals work (Piston's are a no-op, §6/§12): SIGTERM ends the bash loop at once, not at run_timeout
  'ws-sigterm-custom-timeout': (r) => {
    expect(r.map((f) => f.type)).toEqual(['runtime', 'stage', 'data', 'exit', '(websocket close frame)']);
    expect(r[3]).toEqual({ type: 'exit', stage: 'run', code: null, signal: 'SIGTERM' });
    expect(r[4]).toMatchObject({ code: 4999, reason: 'Job Completed' });
  },
};

/** Volatile `response.body.<path>` fields of a fixture, as dotted paths below the body. */
function volatileBodyPaths(f: Fixture): string[] {
  return f.volatile.filter((v) => v.startsWith('response.body.')).map((v) => v.slice('response.body.'.length).split(' ')[0] as string);
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/** Compares a recorded body with ours: recorded keys must match; stage objects may carry the added keys. */
function expectSameBody(recorded: unknown, actual: unknown, versions: Map<string, string>, skip: string[], at = ''): void {
  if (typeof recorded === 'string') {
    expect(typeof actual, at).toBe('string');
    expect((actual as string).replace(UUID, '<uuid>'), at).toBe(recorded.replace(UUID, '<uuid>'));
    return;
  }
  if (Array.isArray(recorded)) {
    expect(Array.isArray(actual), at).toBe(true);
    const a = actual as unknown[];
    // runtimes: the recorded list is a prefix of ours (the host has more toolchains)
    if (at === '') expect(a.length).toBeGreaterThanOrEqual(recorded.length);
    else expect(a.length, at).toBe(recorded.length);
    recorded.forEach((r, i) => expectSameBody(r, a[i], versions, skip, `${at}[${i}]`));
    return;
  }
  if (recorded && typeof recorded === 'object') {
    expect(actual && typeof actual === 'object', at).toBeTruthy();
    const r = recorded as Record<string, unknown>;
    const a = actual as Record<string, unknown>;
    const isStage = 'stdout' in r && 'code' in r;
    for (const k of Object.keys(a)) if (!(k in r)) expect(isStage && ADDED_STAGE_KEYS.has(k), `${at}.${k} is extra`).toBe(true);
    for (const [k, v] of Object.entries(r)) {
      const p = at ? `${at}.${k}` : k;
      if (skip.includes(p)) continue;
      if (k === 'version' && typeof r.language === 'string') {
        expect(a[k], p).toBe(versions.get(r.language)); // the host's version, not the recording's
        continue;
      }
      expectSameBody(v, a[k], versions, skip, p);
    }
    return;
  }
  expect(actual, at).toEqual(recorded);
}

/** Output chunking is the pipe's business: merge consecutive data frames of a stream. */
function mergeData(frames: readonly Received[]): Received[] {
  const out: Received[] = [];
  for (const f of frames) {
    const last = out[out.length - 1];
    if (f.type === 'data' && last?.type === 'data' && last.stream === f.stream) last.data = `${String(last.data)}${String(f.data)}`;
    else out.push({ ...f });
  }
  return out;
}

let eng: TestEngine;
let versions: Map<string, string>;
beforeAll(async () => {
  eng = await startEngine(RECORDING_ENV);
  expect(eng.problem()).toBeNull();
  versions = new Map(eng.engine.runtimes.map((r) => [r.language, r.version]));
});
afterAll(async () => {
  await eng.close();
});

const fixtures = loadFixtures();

const isJava = (f: Fixture): boolean => (f.request?.body as { language?: unknown } | undefined)?.language === 'java';

async function replayHttp(f: Fixture): Promise<void> {
  {
    {
      const req = f.request as NonNullable<Fixture['request']>;
      const res = await fetch(`${eng.url}${req.path}`, {
        method: req.method,
        headers: req.headers,
        ...(req.raw_body !== undefined ? { body: req.raw_body } : req.body !== undefined ? { body: JSON.stringify(req.body) } : {}),
      });
      const text = await res.text();
      const body: unknown = text ? JSON.parse(text) : '';
      const diff = DIFFERENCES[f.name];
      if (diff) return diff(res.status, body as Answer);
      const expected = f.response as NonNullable<Fixture['response']>;
      expect(res.status).toBe(expected.status);
      if (text) expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      const skip = volatileBodyPaths(f);
      expectSameBody(expected.body ?? expected.raw_body, body, versions, skip);
      if (skip.includes('run.stdout')) {
        // the cut point is volatile; what was kept must be a prefix of the full output, within the limit
        const run = (body as { run: { stdout: string; signal: string } }).run;
        expect(run.stdout.length).toBeLessThanOrEqual(1024);
        expect(run.stdout).toMatch(/^(line \d{4}\n)*$/);
        expect(run.signal).toBe('SIGKILL');
      }
    }
  }
}

// the JVM compiles the source in-process: alone it needs ~0.8 s of the 3 s run limit, under a
// concurrent load on two cores it would not fit, so java fixtures run first, one at a time
describe('HTTP fixtures (java, one at a time)', () => {
  for (const f of fixtures.filter((x) => x.transport === 'http' && isJava(x))) it(f.name, () => replayHttp(f));
});

describe.concurrent('HTTP fixtures', () => {
  for (const f of fixtures.filter((x) => x.transport === 'http' && !isJava(x))) it(f.name, () => replayHttp(f));
});

describe.concurrent('WebSocket fixtures', () => {
  for (const f of fixtures.filter((x) => x.transport === 'websocket')) {
    it(f.name, async () => {
      const sent = (f.sent ?? []).map((m) => (typeof m.raw === 'string' ? m.raw : m));
      // send each client frame once as many server frames have arrived as had in the recording
      const seq = f.sequence ?? [];
      const gates: number[] = [];
      let serverFrames = 0;
      for (const s of seq) {
        if (s.dir === 'server->client' && s.message) serverFrames++;
        if (s.dir === 'client->server') gates.push(serverFrames);
      }
      const received = await converse(eng.wsUrl, sent, (i, got) => got.length >= (gates[i] ?? 0));
      const diff = WS_DIFFERENCES[f.name];
      if (diff) return diff(received);
      const expected = mergeData(f.received ?? []).map((m) =>
        (m.type === 'runtime' ? { ...m, version: versions.get(m.language as string) } : m));
      let got = mergeData(received);
      const last = expected[expected.length - 1];
      if (last && last.code !== 4999 && !expected.some((m) => m.type === 'data')) {
        // the program's first output may race the client's offending frame (4000/4004/4005): timing, not protocol
        got = got.filter((m) => m.type !== 'data');
      }
      expect(got).toEqual(expected);
    });
  }
});

/**
 * The Piston client against the real Piston's recorded conversations (`../shared/piston-fixtures/ws-*.json`):
 * a replay server plays each recording's server side, in order, waiting where the recording waited
 * for the client, and closes with the recorded code and reason. The client must relay Piston's
 * frames as recorded (version strings included) and end the way the close code says.
 */
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { STOP_SIGNALS } from '@codex/shared';
import type { JobEnd } from '../src/exec/engine.js';
import { PistonClient, parsePistonFrame } from '../src/exec/piston/piston-client.js';
import { PISTON_CLOSE, type JobRequest, type PistonServerFrame } from '../src/exec/piston/protocol.js';

const DIR = '/work/shared/piston-fixtures';
const FIXTURES = readdirSync(DIR).filter((f) => f.startsWith('ws-') && f.endsWith('.json'));

interface Step {
  dir?: 'client->server' | 'server->client';
  message?: unknown;
  close?: { code: number; reason: string };
  event?: string;
}
interface Fixture {
  name: string;
  sent: unknown[];
  received: unknown[];
  sequence: Step[];
}

/** The client frames our client can be made to send: stdin, and the stop signals. */
function drivable(frame: unknown): frame is { type: 'data'; stream: 'stdin'; data: string } | { type: 'signal'; signal: string } {
  const f = frame as { type?: unknown; stream?: unknown; signal?: unknown };
  if (f?.type === 'data') return f.stream === 'stdin';
  return f?.type === 'signal' && (STOP_SIGNALS as readonly unknown[]).includes(f.signal);
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

/** Serves the recording: waits for each client frame our client will send, plays the server's frames and close. */
async function replay(fx: Fixture): Promise<string> {
  const server = http.createServer();
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => {
    const inbox: unknown[] = [];
    let wake: (() => void) | null = null;
    ws.on('message', (d) => {
      inbox.push(JSON.parse(d.toString()));
      wake?.();
    });
    const nextMessage = (): Promise<void> =>
      inbox.length > 0 ? Promise.resolve(void inbox.shift()) : new Promise((r) => (wake = () => ((wake = null), inbox.shift(), r())));
    void (async () => {
      let clientIndex = 0;
      for (const step of fx.sequence) {
        if (step.dir === 'client->server') {
          const sent = fx.sent[clientIndex++];
          // our client always sends init first; later frames only if it can be made to send them
          if (clientIndex === 1 || drivable(sent)) await nextMessage();
        } else if (step.message !== undefined) {
          ws.send(JSON.stringify(step.message));
        } else if (step.close) {
          ws.close(step.close.code, step.close.reason);
          return;
        }
      }
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  closers.push(async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('Piston client against recorded Piston conversations', () => {
  for (const file of FIXTURES) {
    it(file, async () => {
      const fx = JSON.parse(readFileSync(path.join(DIR, file), 'utf8')) as Fixture;
      const url = await replay(fx);
      const client = new PistonClient({
        url, signalsWork: false, connectTimeoutMs: 2000, answerTimeoutMs: 5000, deadlineMs: 10_000, stopGraceMs: 500, requestTimeoutMs: 2000,
      });
      const init = fx.sent[0] as { type?: string } | undefined;
      const request = (init?.type === 'init' ? { ...init, type: undefined } : { language: 'python', version: '*', files: [{ content: '' }] }) as JobRequest;
      delete (request as { type?: unknown }).type;

      // client frames fire once the server frames that preceded them in the recording have arrived
      const actions: { after: number; frame: unknown }[] = [];
      let serverCount = 0;
      let clientIndex = 0;
      for (const step of fx.sequence) {
        if (step.dir === 'client->server') {
          const sent = fx.sent[clientIndex++];
          if (clientIndex > 1 && drivable(sent)) actions.push({ after: serverCount, frame: sent });
        } else if (step.message !== undefined) serverCount += 1;
      }

      const frames: PistonServerFrame[] = [];
      let job!: ReturnType<PistonClient['connect']>;
      let stopped = false;
      const fire = (): void => {
        while (actions[0] && actions[0].after <= frames.length) {
          const a = actions.shift()!.frame as { type: string; data?: string; signal?: string };
          if (a.type === 'data') job.stdin(a.data ?? '');
          else {
            stopped = true;
            job.stop(a.signal ?? 'SIGKILL');
          }
        }
      };
      const end = await new Promise<JobEnd>((resolve) => {
        job = client.connect(request, {
          onFrame: (f) => {
            frames.push(f);
            fire();
          },
          onEnd: resolve,
        });
        fire();
      });

      const recorded = fx.received.filter((m) => (m as { type: string }).type !== '(websocket close frame)');
      const close = fx.sequence.find((s) => s.close)?.close;
      if (stopped) {
        // a real Piston ignores the signal: the client ends the run itself, having relayed what came before
        expect(end).toEqual({ kind: 'stopped', signal: expect.any(String) });
        expect(frames).toEqual(recorded.slice(0, frames.length).map((m) => parsePistonFrame(JSON.stringify(m))));
        return;
      }
      expect(frames).toEqual(recorded.map((m) => parsePistonFrame(JSON.stringify(m))));
      if (close?.code === PISTON_CLOSE.jobCompleted.code) expect(end).toEqual({ kind: 'completed' });
      else if (close?.code === PISTON_CLOSE.notifiedError.code) {
        const error = recorded.find((m) => (m as { type: string }).type === 'error') as { message: string };
        expect(end).toEqual({ kind: 'failed', message: error.message });
      } else expect(end).toEqual({ kind: 'failed', message: `the engine closed the job: ${close?.code} ${close?.reason}` });
    });
  }
});

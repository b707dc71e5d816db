/**
 * One shared run: opens the engine job, numbers and relays every Piston frame to the room through
 * the fan-out, echoes stdin, stops on request, and ends exactly once with a `done` frame to all
 * and a summary for the document's `runs`.
 */
import { randomUUID } from 'node:crypto';
import { LIMITS, type DoneFrame, type RunStarted, type RunSummary } from '@codex/shared';
import { assertNever } from '@codex/shared';
import type { EngineJob, ExecEngine, JobEnd } from './engine.js';
import { FanOut, type FanOutOptions, type Participant } from './fan-out.js';
import type { JobRequest, PistonServerFrame } from './piston/protocol.js';

/** What starting a run needs. */
export interface RunSessionOptions {
  engine: ExecEngine;
  by: string;
  request: JobRequest;
  /** input sent with the `run` request, delivered once the program runs */
  stdin?: string;
  fanOut: Omit<FanOutOptions, 'runId'>;
  /** called once with the summary after `done` went out */
  onFinished(summary: RunSummary): void;
}

/** Keeps the first `limit` UTF-8 bytes of the output, for the run summary. */
class Excerpt {
  private text = '';
  private bytes = 0;
  constructor(private readonly limit: number) {}
  add(s: string): void {
    if (this.bytes >= this.limit) return;
    const b = Buffer.from(s);
    const take = b.subarray(0, this.limit - this.bytes);
    this.bytes += take.length;
    // a multi-byte character cut in half decodes to U+FFFD: drop it
    this.text += take.toString('utf8').replace(/\uFFFD$/, '');
  }
  toString(): string {
    return this.text;
  }
}

/** A run in progress (or just finished, its frames kept for late joiners). */
export class RunSession {
  readonly id = randomUUID();
  readonly startedAt = new Date();
  readonly fanOut: FanOut;
  readonly by: string;
  language: string;
  version: string;
  private job: EngineJob | null = null;
  private readonly started = performance.now();
  private lastExit: { code: number | null; signal: string | null } | null = null;
  private errorRelayed = false;
  private stoppedBy: string | null = null;
  private readonly excerpt = new Excerpt(LIMITS.summaryOutput);
  private finishedFlag = false;
  private resolveFinished!: () => void;
  /** resolves once `done` was sent and `onFinished` was called */
  readonly finished = new Promise<void>((r) => (this.resolveFinished = r));

  constructor(private readonly opts: RunSessionOptions) {
    this.by = opts.by;
    this.language = opts.request.language;
    this.version = opts.request.version;
    this.fanOut = new FanOut({ ...opts.fanOut, runId: this.id });
  }

  /** True once `done` was sent. */
  get isFinished(): boolean {
    return this.finishedFlag;
  }

  /** Announces the run to the attached participants and opens the engine job. */
  start(): void {
    const frame: RunStarted = { type: 'run', run: this.id, by: this.by, language: this.language, version: this.version };
    this.fanOut.start(frame);
    this.job = this.opts.engine.connect(this.opts.request, {
      onFrame: (f) => this.onEngineFrame(f),
      onEnd: (end) => this.finish(end),
    });
    if (this.opts.stdin) this.stdin(this.by, this.opts.stdin);
  }

  /** Input from a participant: echoed to everyone, then forwarded (held by the client until `stage: run`). */
  stdin(by: string, data: string): void {
    if (this.finishedFlag || !this.job) return;
    this.fanOut.emit({ type: 'data', stream: 'stdin', data, by });
    this.job.stdin(data);
  }

  /** Stops the program on behalf of `by`. */
  stop(signal: string, by: string): void {
    if (this.finishedFlag || !this.job) return;
    this.stoppedBy ??= by;
    this.job.stop(signal);
  }

  /** Ends the run now (shutdown): `error` and `done` go to everyone. */
  abort(reason: string): void {
    if (this.finishedFlag) return;
    if (this.job) this.job.abort(reason);
    else this.finish({ kind: 'failed', message: reason });
  }

  /** Adds a participant (joining, or reconnecting with `since`). */
  attach(p: Participant, since = 0): void {
    this.fanOut.attach(p, since);
  }

  /** Removes a participant. */
  detach(p: Participant): void {
    this.fanOut.detach(p);
  }

  private onEngineFrame(f: PistonServerFrame): void {
    if (this.finishedFlag) return;
    switch (f.type) {
      case 'runtime':
        this.language = f.language || this.language;
        this.version = f.version || this.version;
        this.fanOut.emit({ type: 'runtime', language: f.language, version: f.version });
        return;
      case 'stage':
        this.fanOut.emit({ type: 'stage', stage: f.stage });
        return;
      case 'data':
        this.excerpt.add(f.data);
        this.fanOut.emit({ type: 'data', stream: f.stream, data: f.data });
        return;
      case 'exit':
        this.lastExit = { code: f.code, signal: f.signal };
        this.fanOut.emit({ type: 'exit', stage: f.stage, code: f.code, signal: f.signal });
        if (f.error) this.relayError(f.error);
        return;
      case 'error':
        this.relayError(f.message);
        return;
      default:
        assertNever(f);
    }
  }

  private relayError(message: string): void {
    this.errorRelayed = true;
    this.fanOut.emit({ type: 'error', message });
  }

  private finish(end: JobEnd): void {
    if (this.finishedFlag) return;
    const wall_ms = Math.round(performance.now() - this.started);
    let done: DoneFrame;
    switch (end.kind) {
      case 'completed':
        done = { type: 'done', run: this.id, code: this.lastExit?.code ?? null, signal: this.lastExit?.signal ?? null, wall_ms };
        // the engine honoured the signal and the job ended normally: still say who stopped it
        if (this.stoppedBy !== null) done.message = `stopped by ${this.stoppedBy}`;
        break;
      case 'stopped':
        done = {
          type: 'done', run: this.id,
          code: this.lastExit?.code ?? null,
          signal: this.lastExit?.signal ?? end.signal,
          message: `stopped by ${this.stoppedBy ?? 'the server'}`,
          wall_ms,
        };
        break;
      case 'failed':
        if (!this.errorRelayed) this.relayError(end.message);
        done = { type: 'done', run: this.id, code: this.lastExit?.code ?? null, signal: this.lastExit?.signal ?? null, status: 'XX', message: end.message, wall_ms };
        break;
      default:
        return assertNever(end);
    }
    this.finishedFlag = true;
    this.fanOut.end(done);
    try {
      this.opts.onFinished({
        run: this.id,
        by: this.by,
        language: this.language,
        version: this.version,
        startedAt: this.startedAt.toISOString(),
        wall_ms,
        code: done.code,
        signal: done.signal,
        status: done.status ?? null,
        message: done.message ?? null,
        output: this.excerpt.toString(),
      });
    } finally {
      this.resolveFinished();
    }
  }
}

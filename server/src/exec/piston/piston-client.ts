/**
 * The one Piston client: talks to one Piston instance (a real one or the embedded engine on
 * loopback) over `/api/v2/runtimes`, `/api/v2/execute` and `/api/v2/connect`. It copes with
 * Piston's recorded behaviour (PISTON-API.md §6, §11): stdin is held until `stage: run`, a stop
 * ends the job even though a real Piston ignores signals, every close code is mapped to an end,
 * and a job that never ends is cut off by an overall deadline.
 */
import WebSocket from 'ws';
import type { EngineJob, JobEnd, JobHandlers, RelayedResponse } from '../engine.js';
import {
  PISTON_CLOSE,
  type JobRequest,
  type PistonRuntime,
  type PistonServerFrame,
} from './protocol.js';

/** How one client behaves; the pool fills these from the config. */
export interface PistonClientOptions {
  /** base URL, e.g. `http://127.0.0.1:2000` (no trailing slash) */
  url: string;
  /**
   * true when the instance honours `signal` frames (the embedded engine). A real Piston does not
   * (a bug in every version), so its socket is closed right after the signal is sent.
   */
  signalsWork: boolean;
  /** longest wait for the WebSocket to open */
  connectTimeoutMs: number;
  /** longest wait for the first answer (`runtime`) after `init`; Piston queues jobs silently */
  answerTimeoutMs: number;
  /** overall deadline of one job, so a hung instance cannot hold a room forever */
  deadlineMs: number;
  /** with `signalsWork`: how long a stopped job may take to exit before its socket is closed */
  stopGraceMs: number;
  /** timeout of one HTTP request */
  requestTimeoutMs: number;
}

/** Extra hooks the pool uses to fail over. */
export interface ConnectHooks {
  /**
   * Called instead of `onEnd` when the socket could not be opened at all; returning true means
   * the caller took over (tried another instance), so `onEnd` is not called.
   */
  onUnreachable?(message: string): boolean;
}

/** Narrows one text frame from Piston; null for anything Piston's clients should ignore. */
export function parsePistonFrame(text: string): PistonServerFrame | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  const str = (k: string): string | null => (typeof o[k] === 'string' ? (o[k] as string) : null);
  const stage = o.stage === 'compile' || o.stage === 'run' ? o.stage : null;
  switch (o.type) {
    case 'runtime':
      return { type: 'runtime', language: str('language') ?? '', version: str('version') ?? '' };
    case 'stage':
      return stage ? { type: 'stage', stage } : null;
    case 'data':
      if ((o.stream !== 'stdout' && o.stream !== 'stderr') || typeof o.data !== 'string') return null;
      return { type: 'data', stream: o.stream, data: o.data };
    case 'exit': {
      if (!stage) return null;
      const code = typeof o.code === 'number' ? o.code : null;
      const signal = str('signal');
      const error = str('error');
      return error === null ? { type: 'exit', stage, code, signal } : { type: 'exit', stage, code, signal, error };
    }
    case 'error':
      return { type: 'error', message: str('message') ?? 'the engine reported an error' };
    default:
      return null;
  }
}

/** Words for a close that was not Piston's normal 4999. */
function describeClose(code: number, reason: string): string {
  const known = Object.values(PISTON_CLOSE).find((c) => c.code === code);
  if (known) return `the engine closed the job: ${code} ${known.reason}`;
  if (code === 1006) return 'the engine connection was lost mid-run';
  return `the engine closed the connection mid-run (${code}${reason ? ` ${reason}` : ''})`;
}

/** Words for a failed HTTP request or socket open. */
export function describeNetworkError(url: string, err: unknown): string {
  const e = err as { cause?: { code?: unknown; message?: unknown }; code?: unknown; message?: unknown; name?: unknown };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `engine ${url} did not answer in time`;
  const code = e?.cause?.code ?? e?.code;
  const detail = typeof code === 'string' ? code : String(e?.cause?.message ?? e?.message ?? err);
  return `engine ${url} is unreachable (${detail})`;
}

/** A client of one Piston instance. */
export class PistonClient {
  /** jobs open on this instance now */
  activeJobs = 0;
  private readonly jobs = new Set<PistonJob>();

  constructor(readonly options: PistonClientOptions) {}

  /** The instance's base URL. */
  get url(): string {
    return this.options.url;
  }

  /** Opens `/api/v2/connect`, sends `init`, and relays the job to `handlers`. */
  connect(request: JobRequest, handlers: JobHandlers, hooks: ConnectHooks = {}): EngineJob {
    const job = new PistonJob(this.options, request, handlers, hooks, () => {
      this.jobs.delete(job);
      this.activeJobs = this.jobs.size;
    });
    this.jobs.add(job);
    this.activeJobs = this.jobs.size;
    return job;
  }

  /** `GET /api/v2/runtimes`; throws with a clear message when the instance does not answer well. */
  async runtimes(): Promise<PistonRuntime[]> {
    let res: Response;
    try {
      res = await fetch(`${this.url}/api/v2/runtimes`, { signal: AbortSignal.timeout(this.options.requestTimeoutMs) });
    } catch (err) {
      throw new Error(describeNetworkError(this.url, err));
    }
    if (res.status !== 200) throw new Error(`engine ${this.url} answered ${res.status} to /api/v2/runtimes`);
    const body: unknown = await res.json().catch(() => null);
    if (!Array.isArray(body)) throw new Error(`engine ${this.url} sent a runtimes list that is not an array`);
    return body.filter(
      (r): r is PistonRuntime =>
        typeof r === 'object' && r !== null && typeof r.language === 'string' && typeof r.version === 'string',
    ).map((r) => ({ ...r, aliases: Array.isArray(r.aliases) ? r.aliases.filter((a) => typeof a === 'string') : [] }));
  }

  /** `POST /api/v2/execute` with `body`; Piston's status and body come back as they are. */
  async execute(body: unknown): Promise<RelayedResponse> {
    let res: Response;
    try {
      res = await fetch(`${this.url}/api/v2/execute`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        // the job itself may take the run and compile timeouts
        signal: AbortSignal.timeout(this.options.deadlineMs),
      });
    } catch (err) {
      throw new Error(describeNetworkError(this.url, err));
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? '' : JSON.parse(text);
    } catch {
      // a non-JSON body is relayed as text
    }
    return { status: res.status, body: parsed };
  }

  /** Null when the instance answers with at least one runtime, else why not. */
  async probe(): Promise<string | null> {
    try {
      const list = await this.runtimes();
      return list.length > 0 ? null : `engine ${this.url} has no runtimes installed`;
    } catch (err) {
      return (err as Error).message;
    }
  }

  /** Ends every open job (shutdown). */
  close(): void {
    for (const job of [...this.jobs]) job.abort('the engine client is closing');
  }
}

/** One `/api/v2/connect` conversation. */
class PistonJob implements EngineJob {
  private readonly ws: WebSocket;
  private opened = false;
  private ended = false;
  private running = false;
  private exited = false;
  private heldStdin: string[] = [];
  private errorMessage: string | null = null;
  private stopSignal: string | null = null;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly options: PistonClientOptions,
    request: JobRequest,
    private readonly handlers: JobHandlers,
    private readonly hooks: ConnectHooks,
    private readonly onClosed: () => void,
  ) {
    const wsUrl = `${options.url.replace(/^http/, 'ws')}/api/v2/connect`;
    this.ws = new WebSocket(wsUrl, { handshakeTimeout: options.connectTimeoutMs, perMessageDeflate: false });
    this.later(options.deadlineMs, () => this.fail(`the run did not finish within ${Math.round(options.deadlineMs / 1000)} s; stopped`));
    this.ws.on('open', () => {
      this.opened = true;
      this.ws.send(JSON.stringify({ type: 'init', ...request }));
      this.later(options.answerTimeoutMs, () => {
        if (!this.gotAnswer) this.fail(`engine ${options.url} did not answer the run request within ${options.answerTimeoutMs} ms`);
      });
    });
    this.ws.on('unexpected-response', (_req, res) => {
      this.unreachable(`engine ${options.url} refused the connection (HTTP ${res.statusCode ?? '?'})`);
      res.resume();
      this.ws.terminate();
    });
    this.ws.on('error', (err) => {
      if (!this.opened) this.unreachable(describeNetworkError(options.url, err));
      else this.fail(`the engine connection failed: ${err.message}`);
    });
    this.ws.on('message', (data, isBinary) => {
      if (this.ended || isBinary) return;
      this.onText(data.toString());
    });
    this.ws.on('close', (code, reason) => this.onClose(code, reason.toString()));
  }

  private gotAnswer = false;

  get instance(): string {
    return this.options.url;
  }

  stdin(data: string): void {
    if (this.ended || this.exited) return;
    if (this.running) this.send({ type: 'data', stream: 'stdin', data });
    else this.heldStdin.push(data);
  }

  stop(signal: string): void {
    if (this.ended) return;
    this.stopSignal = signal;
    if (!this.opened) {
      this.end({ kind: 'stopped', signal });
      return;
    }
    this.send({ type: 'signal', signal });
    if (this.options.signalsWork) this.later(this.options.stopGraceMs, () => this.end({ kind: 'stopped', signal }));
    else this.end({ kind: 'stopped', signal });
  }

  abort(reason: string): void {
    this.fail(reason);
  }

  private onText(text: string): void {
    const frame = parsePistonFrame(text);
    if (!frame) return; // Piston's clients ignore what they do not know
    this.gotAnswer = true;
    if (frame.type === 'stage' && frame.stage === 'run') {
      this.running = true;
      // Piston drops stdin that arrives before the run stage's process exists (PISTON-API.md §6).
      for (const data of this.heldStdin) this.send({ type: 'data', stream: 'stdin', data });
      this.heldStdin = [];
    } else if (frame.type === 'exit' && frame.stage === 'run') {
      this.exited = true;
    } else if (frame.type === 'error') {
      this.errorMessage = frame.message;
    }
    this.handlers.onFrame(frame);
  }

  private onClose(code: number, reason: string): void {
    if (this.ended) return;
    if (code === PISTON_CLOSE.jobCompleted.code) this.end({ kind: 'completed' });
    else if (this.stopSignal !== null) this.end({ kind: 'stopped', signal: this.stopSignal });
    else if (!this.opened) this.unreachable(`engine ${this.options.url} closed the connection before it opened (${code})`);
    else this.fail(this.errorMessage ?? describeClose(code, reason));
  }

  private send(frame: object): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  private later(ms: number, fn: () => void): void {
    this.timers.push(setTimeout(fn, ms));
  }

  private unreachable(message: string): void {
    if (this.ended) return;
    if (this.hooks.onUnreachable) {
      this.cleanup();
      if (this.hooks.onUnreachable(message)) return;
      this.handlers.onEnd({ kind: 'failed', message });
      return;
    }
    this.fail(message);
  }

  private fail(message: string): void {
    this.end({ kind: 'failed', message });
  }

  private end(end: JobEnd): void {
    if (this.ended) return;
    this.cleanup();
    this.handlers.onEnd(end);
  }

  /** Marks the job over, stops its timers and releases the socket (Piston finishes or times out on its own). */
  private cleanup(): void {
    this.ended = true;
    for (const t of this.timers) clearTimeout(t);
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000, 'client done');
    else if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
    this.onClosed();
  }
}

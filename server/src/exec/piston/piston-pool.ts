/**
 * The execution engine over one or several Piston instances (`PISTON_URL` may be a comma-separated
 * list; the embedded engine is a pool of one). A job goes to a healthy instance with the fewest
 * active jobs; an instance that fails to connect is skipped and retried after a back-off, and the
 * job moves on to the next instance.
 */
import type { EngineJob, ExecEngine, InstanceStatus, JobHandlers, RelayedResponse } from '../engine.js';
import { PistonClient, type PistonClientOptions } from './piston-client.js';
import type { JobRequest, PistonRuntime } from './protocol.js';

/** Options of every client in the pool, minus the URL. */
export type PoolOptions = Omit<PistonClientOptions, 'url'> & {
  /** first back-off after a failed connect; doubles up to `maxRetryMs` */
  retryMs?: number;
  maxRetryMs?: number;
};

interface Member {
  client: PistonClient;
  /** not chosen before this time (ms since epoch) after a failed connect */
  downUntil: number;
  failures: number;
  lastProblem: string | null;
}

/** A Piston engine over several instances. */
export class PistonPool implements ExecEngine {
  private readonly members: Member[];
  private readonly retryMs: number;
  private readonly maxRetryMs: number;

  constructor(urls: readonly string[], options: PoolOptions) {
    if (urls.length === 0) throw new Error('PistonPool needs at least one URL');
    this.retryMs = options.retryMs ?? 2000;
    this.maxRetryMs = options.maxRetryMs ?? 30_000;
    this.members = urls.map((url) => ({
      client: new PistonClient({ ...options, url }),
      downUntil: 0,
      failures: 0,
      lastProblem: null,
    }));
  }

  /** The instances in the order to try now: healthy ones by fewest active jobs, then those backing off. */
  private ranked(): Member[] {
    const now = Date.now();
    const up = this.members.filter((m) => m.downUntil <= now).sort((a, b) => a.client.activeJobs - b.client.activeJobs);
    const down = this.members.filter((m) => m.downUntil > now).sort((a, b) => a.downUntil - b.downUntil);
    return [...up, ...down];
  }

  private markDown(m: Member, problem: string): void {
    m.failures += 1;
    m.lastProblem = problem;
    m.downUntil = Date.now() + Math.min(this.retryMs * 2 ** (m.failures - 1), this.maxRetryMs);
  }

  private markUp(m: Member): void {
    m.failures = 0;
    m.downUntil = 0;
    m.lastProblem = null;
  }

  connect(request: JobRequest, handlers: JobHandlers): EngineJob {
    const order = this.ranked();
    const tried: string[] = [];
    // The job object stays the same for the caller while it moves between instances.
    let current: EngineJob | null = null;
    const pending: { stdin: string[]; stop: string | null; abort: string | null } = { stdin: [], stop: null, abort: null };
    const attempt = (i: number): void => {
      const m = order[i];
      if (!m) {
        handlers.onEnd({ kind: 'failed', message: tried.join('; ') });
        return;
      }
      let opened = false;
      current = m.client.connect(
        request,
        {
          onFrame: (f) => {
            if (!opened) {
              opened = true;
              this.markUp(m);
            }
            handlers.onFrame(f);
          },
          onEnd: (end) => handlers.onEnd(end),
        },
        {
          onUnreachable: (message) => {
            this.markDown(m, message);
            tried.push(message);
            if (pending.abort !== null || pending.stop !== null) return false;
            attempt(i + 1);
            return true;
          },
        },
      );
      for (const d of pending.stdin) current.stdin(d);
    };
    attempt(0);
    return {
      get instance() {
        return current?.instance ?? '';
      },
      stdin(data) {
        pending.stdin.push(data);
        current?.stdin(data);
      },
      stop(signal) {
        pending.stop = signal;
        current?.stop(signal);
      },
      abort(reason) {
        pending.abort = reason;
        current?.abort(reason);
      },
    };
  }

  async runtimes(): Promise<PistonRuntime[]> {
    const problems: string[] = [];
    for (const m of this.ranked()) {
      try {
        const list = await m.client.runtimes();
        this.markUp(m);
        return list;
      } catch (err) {
        this.markDown(m, (err as Error).message);
        problems.push((err as Error).message);
      }
    }
    throw new Error(problems.join('; '));
  }

  async execute(body: unknown): Promise<RelayedResponse> {
    const problems: string[] = [];
    for (const m of this.ranked()) {
      try {
        const res = await m.client.execute(body);
        this.markUp(m);
        return res;
      } catch (err) {
        const message = (err as Error).message;
        // A job that was sent but not answered in time may have run: never run it twice.
        if (!message.includes('unreachable')) throw err;
        this.markDown(m, message);
        problems.push(message);
      }
    }
    throw new Error(problems.join('; '));
  }

  async status(): Promise<InstanceStatus[]> {
    return Promise.all(
      this.members.map(async (m) => {
        const problem = await m.client.probe();
        if (problem === null) this.markUp(m);
        else if (m.downUntil <= Date.now()) this.markDown(m, problem);
        return { url: m.client.url, problem, activeJobs: m.client.activeJobs };
      }),
    );
  }

  close(): void {
    for (const m of this.members) m.client.close();
  }
}

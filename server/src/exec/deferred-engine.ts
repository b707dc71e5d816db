/**
 * An engine that becomes available later (the embedded engine probes runtimes and the sandbox
 * before it serves): the server starts listening at once, `/readyz` says the engine is starting,
 * and a run requested meanwhile waits for it. If the start fails, jobs fail with its reason.
 */
import type { EngineJob, ExecEngine, InstanceStatus, JobHandlers, RelayedResponse } from './engine.js';
import type { JobRequest, PistonRuntime } from './piston/protocol.js';

/** Wraps a promise of an engine as an engine. */
export class DeferredEngine implements ExecEngine {
  private engine: ExecEngine | null = null;
  private failure: string | null = null;
  private closed = false;

  constructor(private readonly ready: Promise<ExecEngine>) {
    ready.then(
      (e) => {
        this.engine = e;
        if (this.closed) e.close();
      },
      (err: unknown) => {
        this.failure = `the execution engine did not start: ${(err as Error).message}`;
      },
    );
  }

  private async get(): Promise<ExecEngine> {
    if (this.engine) return this.engine;
    if (this.failure) throw new Error(this.failure);
    return this.ready.catch(() => {
      throw new Error(this.failure ?? 'the execution engine did not start');
    });
  }

  connect(request: JobRequest, handlers: JobHandlers): EngineJob {
    if (this.engine) return this.engine.connect(request, handlers);
    let job: EngineJob | null = null;
    const pending: { stdin: string[]; stop: string | null; abort: string | null } = { stdin: [], stop: null, abort: null };
    let ended = false;
    const end: JobHandlers['onEnd'] = (e) => {
      if (ended) return;
      ended = true;
      handlers.onEnd(e);
    };
    this.get().then(
      (engine) => {
        if (pending.abort !== null) return end({ kind: 'failed', message: pending.abort });
        if (pending.stop !== null) return end({ kind: 'stopped', signal: pending.stop });
        job = engine.connect(request, { onFrame: handlers.onFrame, onEnd: end });
        for (const d of pending.stdin) job.stdin(d);
      },
      (err: unknown) => end({ kind: 'failed', message: (err as Error).message }),
    );
    return {
      get instance() {
        return job?.instance ?? '';
      },
      stdin: (d) => (job ? job.stdin(d) : void pending.stdin.push(d)),
      stop: (s) => {
        if (job) job.stop(s);
        else pending.stop = s;
      },
      abort: (r) => {
        if (job) job.abort(r);
        else {
          pending.abort = r;
          end({ kind: 'failed', message: r });
        }
      },
    };
  }

  async runtimes(): Promise<PistonRuntime[]> {
    return (await this.get()).runtimes();
  }

  async execute(body: unknown): Promise<RelayedResponse> {
    return (await this.get()).execute(body);
  }

  async status(): Promise<InstanceStatus[]> {
    if (this.engine) return this.engine.status();
    return [{ url: 'embedded', problem: this.failure ?? 'the embedded engine is starting', activeJobs: 0 }];
  }

  close(): void {
    this.closed = true;
    this.engine?.close();
  }
}

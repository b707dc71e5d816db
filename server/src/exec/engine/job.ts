/**
 * One job: prime (job directory and files) → compile → run → cleanup, Piston's job.js semantics
 * (PISTON-API.md §3, §6) over the sandbox. Results use the newest era's superset shape.
 */
import { randomUUID } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { chown, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { constants as osConstants } from 'node:os';
import type { Stage, StageResult, StageStatus, ExecuteResponse } from '../piston/protocol.js';
import type { Sandbox, SandboxProcess, Zygote } from './sandbox.js';
import type { JobSpec, StageLimits } from './validate.js';
import { RequestError } from './validate.js';

/** What a WebSocket client sees of a job (HTTP jobs pass none). */
export interface JobEvents {
  stage(stage: Stage): void;
  data(stream: 'stdout' | 'stderr', data: string): void;
  exit(stage: Stage, result: StageResult): void;
}

/** Output over WebSocket has no Piston limit; ours is generous but finite, so a runaway printer cannot flood the server. */
export const WS_OUTPUT_MAX = 8 * 1024 * 1024;

/** A job directory made ahead of its job, with a sandbox for the first stage already waiting in it. */
export interface Workspace {
  readonly id: string;
  readonly hostDir: string;
  readonly zygote: Promise<Zygote>;
}

/** Makes a workspace for `slot`: an empty directory owned by the slot's uid and a prepared sandbox. */
export async function makeWorkspace(sandbox: Sandbox, jobsDir: string, slot: number): Promise<Workspace> {
  const id = randomUUID();
  const hostDir = path.join(jobsDir, id);
  await mkdir(hostDir, { mode: 0o700 });
  const uid = sandbox.uidOf(slot);
  if (uid !== undefined) await chown(hostDir, uid, uid);
  const zygote = sandbox.prepare(slot, hostDir, id);
  zygote.catch(() => undefined); // a failure surfaces when the job awaits it
  return { id, hostDir, zygote };
}

/** A job bound to a queue slot. */
export class Job {
  readonly id: string;
  readonly hostDir: string;
  private current: SandboxProcess | null = null;
  private cancelled = false;
  /** sandboxes made for this job and not started yet */
  private readonly pending = new Set<Promise<Zygote>>();
  /** resolve once each sandbox this job used or discarded has ended entirely */
  private readonly ends: Promise<unknown>[] = [];

  constructor(
    private readonly spec: JobSpec,
    private readonly sandbox: Sandbox,
    private readonly workspace: Workspace,
    private readonly slot: number,
    private readonly events?: JobEvents,
    /** called once a stage's program has started (the engine prepares sandboxes then, see Engine.prepareLater) */
    private readonly onStarted?: () => void,
  ) {
    this.id = workspace.id;
    this.hostDir = workspace.hostDir;
    this.pending.add(workspace.zygote);
  }

  /**
   * Writes the files into the job directory (owned by the slot's uid). Synchronously: the directory is
   * on tmpfs and the files are small (bounded by the request size), so this costs less than a thread
   * pool round trip per file on a busy machine.
   */
  async prime(): Promise<void> {
    const uid = this.sandbox.uidOf(this.slot);
    const own = (p: string): void => {
      if (uid !== undefined) chownSync(p, uid, uid);
    };
    for (const f of this.spec.files) {
      const target = path.join(this.hostDir, f.name);
      try {
        for (let d = path.dirname(target), stack: string[] = []; ; d = path.dirname(d)) {
          if (d === this.hostDir || existsSync(d)) {
            for (const made of stack.reverse()) { mkdirSync(made); own(made); }
            break;
          }
          stack.push(d);
        }
        writeFileSync(target, f.content);
        own(target);
      } catch (err) {
        throw new RequestError(`files: cannot write ${JSON.stringify(f.name)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
    }
    const main = this.spec.codeFiles[0] as string;
    if (this.spec.runtime.language === 'java' && !main.endsWith('.java')) {
      // Piston's java package renames $1 to $1.java for the single-file source launcher
      renameSync(path.join(this.hostDir, main), path.join(this.hostDir, `${main}.java`));
    }
    return Promise.resolve();
  }

  /** Runs the stages; the HTTP answer (WebSocket clients got the same through `events`). */
  async execute(): Promise<ExecuteResponse> {
    const rt = this.spec.runtime;
    let compile: StageResult | undefined;
    let zygote = this.workspace.zygote;
    if (rt.compile) {
      const first = zygote;
      // the run stage's sandbox gets ready while the compiler works
      zygote = this.sandbox.prepare(this.slot, this.hostDir, this.id);
      zygote.catch(() => undefined);
      this.pending.add(zygote);
      compile = await this.stage(first, 'compile', rt.compile(this.spec.codeFiles), this.spec.compile, '');
      if (compile.code !== 0) return { compile, run: compile, language: rt.language, version: rt.version };
    }
    let main = this.spec.codeFiles[0] as string;
    if (rt.language === 'java' && !main.endsWith('.java')) main = `${main}.java`;
    const run = await this.stage(zygote, 'run', rt.run(main, this.spec.args), this.spec.run, this.spec.stdin);
    return { ...(compile ? { compile } : {}), run, language: rt.language, version: rt.version };
  }

  /** Stdin for the running stage (WebSocket `data` frames), written raw. */
  writeStdin(data: string): void {
    const p = this.current;
    if (p && p.stdin.writable) p.stdin.write(data);
  }

  /** Delivers a signal frame's signal to the job's processes. */
  signal(sig: NodeJS.Signals): void {
    if (sig === 'SIGKILL') this.killReason = { signal: 'SIGKILL', status: 'SG', message: 'Killed on request' };
    else this.lastSignal = sig;
    this.current?.signal(sig);
  }

  /** Ends the job now (client gone, engine closing); later stages do not start. */
  cancel(): void {
    this.cancelled = true;
    this.current?.signal('SIGKILL');
    for (const z of this.pending) this.ends.push(z.then((zy) => zy.discard(), () => undefined));
    this.pending.clear();
  }

  /**
   * Resolves once every sandbox of the job has ended, bwrap and namespaces included. The answer does
   * not wait for this (the job's processes are gone before it), but reusing the slot's uid and
   * cgroups does.
   */
  async gone(): Promise<void> {
    await Promise.all(this.ends);
  }

  /** Kills whatever is left and removes the job directory. */
  async cleanup(): Promise<void> {
    this.cancel();
    await rm(this.hostDir, { recursive: true, force: true, maxRetries: 3 });
  }

  private killReason: { signal: string; status: StageStatus; message: string } | null = null;
  private lastSignal: NodeJS.Signals | null = null;

  private async stage(zygote: Promise<Zygote>, stage: Stage, argv: readonly string[], limits: StageLimits, stdin: string | null): Promise<StageResult> {
    const rt = this.spec.runtime;
    const l = this.spec.limits;
    this.killReason = null;
    this.lastSignal = null;
    const started = performance.now();
    const z = await zygote;
    this.pending.delete(zygote);
    const proc = await z.start(argv, {
      PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp', PISTON_LANGUAGE: rt.language, ...rt.env,
    }, {
      memory: limits.memory, cpuTime: limits.cpuTime, processes: l.max_process_count, openFiles: l.max_open_files,
      fileSize: l.max_file_size, addressSpace: rt.addressSpaceLimit,
    });
    this.current = proc;
    this.ends.push(proc.gone);
    if (this.cancelled) proc.signal('SIGKILL');
    this.onStarted?.();
    this.events?.stage(stage);
    const out = { stdout: '', stderr: '', output: '' };
    const max = this.events ? WS_OUTPUT_MAX : l.output_max_size;
    const sizes = { stdout: 0, stderr: 0 };
    const kill = (reason: { signal: string; status: StageStatus; message: string }): void => {
      this.killReason ??= reason;
      proc.signal('SIGKILL');
    };
    const collect = (stream: 'stdout' | 'stderr'): Promise<void> => new Promise((resolve) => {
      const decoder = new StringDecoder('utf8');
      const src = proc[stream];
      src.on('data', (chunk: Buffer) => {
        if (this.killReason?.status === 'OL' || this.killReason?.status === 'EL') return;
        if (sizes[stream] + chunk.length > max) {
          // Piston drops the chunk that would cross the limit and kills the job
          kill({ signal: 'SIGKILL', status: stream === 'stdout' ? 'OL' : 'EL', message: `${stream} length exceeded` });
          return;
        }
        sizes[stream] += chunk.length;
        const text = decoder.write(chunk);
        if (!text) return;
        if (this.events) this.events.data(stream, text);
        else {
          out[stream] += text;
          out.output += text;
        }
      });
      src.once('close', () => resolve());
      src.once('error', () => resolve());
    });
    const streams = Promise.all([collect('stdout'), collect('stderr')]);
    proc.stdin.on('error', () => undefined); // EPIPE when the program exits without reading
    if (stdin !== null && !this.events) {
      // HTTP: written once, with the trailing newline Piston adds, then closed
      proc.stdin.end(stdin.endsWith('\n') ? stdin : `${stdin}\n`);
    } else if (stage === 'compile') proc.stdin.end();
    const timer = limits.timeout > 0
      ? setTimeout(() => kill({ signal: 'SIGKILL', status: 'TO', message: 'Time limit exceeded' }), limits.timeout)
      : null;
    const exit = await proc.exited;
    if (timer) clearTimeout(timer);
    // every process of the job is gone once bwrap exits; the pipes close right after
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([streams, new Promise((r) => { grace = setTimeout(r, 2000); })]);
    clearTimeout(grace);
    this.current = null;
    const wall = performance.now() - started;
    const stats = await proc.stats();
    const result: StageResult = {
      stdout: out.stdout, stderr: out.stderr, output: out.output, code: null, signal: null,
      message: null, status: null, cpu_time: round(stats.cpuMs ?? 0), wall_time: round(wall), memory: stats.memoryBytes,
    };
    const bwrapCode = exit.code;
    const cpuKill = limits.cpuTime > 0 && (bwrapCode === 128 + (osConstants.signals.SIGXCPU)
      || (bwrapCode === 137 && stats.cpuMs !== undefined && stats.cpuMs >= limits.cpuTime));
    const reason = this.killReason as { signal: string; status: StageStatus; message: string } | null;
    if (exit.sandboxError) {
      // bubblewrap's own complaint, as the job's stderr would have shown it
      result.stderr += exit.sandboxError;
      result.output += exit.sandboxError;
    }
    if (reason) Object.assign(result, reason);
    else if (cpuKill) Object.assign(result, { signal: 'SIGKILL', status: 'TO', message: 'Time limit exceeded' });
    else if (stats.oomKilled) Object.assign(result, { signal: 'SIGKILL', status: 'SG', message: 'Memory limit exceeded' });
    else if (exit.signal !== null) Object.assign(result, { signal: exit.signal, status: 'SG', message: `Caught fatal signal ${osConstants.signals[exit.signal as NodeJS.Signals] ?? ''}` });
    else if (this.lastSignal && bwrapCode === 128 + osConstants.signals[this.lastSignal]) {
      Object.assign(result, { signal: this.lastSignal, status: 'SG', message: `Caught fatal signal ${bwrapCode - 128}` });
    } else {
      result.code = bwrapCode;
      if (bwrapCode !== 0) Object.assign(result, { status: 'RE', message: `Exited with error status ${bwrapCode ?? '?'}` });
    }
    if (this.events) this.events.exit(stage, result);
    return result;
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

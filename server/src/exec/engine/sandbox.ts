/**
 * The sandbox of one stage: bubblewrap with fresh user/pid/net/ipc/uts/cgroup/mount namespaces, no
 * capabilities, a read-only view of the system directories only, a private /tmp and the job
 * directory, spawned as an unprivileged host uid (one per queue slot) under prlimit's rlimits and
 * inside the slot's cgroups. SIGKILL to the namespace's init ends every process of the job.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { once } from 'node:events';
import { setPriority } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { CgroupPool, CgroupStats } from './cgroups.js';
import { BASH_STUB } from './stub.js';

/** Where the job directory appears inside the sandbox (Piston's path, so tracebacks look the same). */
export const BOX_JOBS = '/piston/jobs';
/** The uid and gid a job has inside its namespace. */
export const BOX_UID = 1000;

/** Limits of one stage, in Piston's units (bytes, ms); ≤ 0 means none. */
export interface SandboxLimits {
  memory: number;
  cpuTime: number;
  processes: number;
  openFiles: number;
  fileSize: number;
  /** carry the memory limit as RLIMIT_AS too (see Runtime.addressSpaceLimit) */
  addressSpace: boolean;
}

/** How a sandboxed process ended. */
export interface SandboxExit {
  code: number | null;
  signal: string | null;
  /** bubblewrap's own complaint (its stderr) when the sandbox failed before the program ended */
  sandboxError?: string;
}

/** The job's stdio inside a prepared sandbox: fds 7, 8, 9 of bwrap (not its 0, 1, 2, see prepare). */
const JOB_STDIN = 7;
const JOB_STDOUT = 8;
const JOB_STDERR = 9;

/** A running stage. */
export interface SandboxProcess {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** delivers `signal` to every process of the job (SIGKILL: ends the whole namespace) */
  signal(signal: NodeJS.Signals): void;
  readonly exited: Promise<SandboxExit>;
  /** every process of the sandbox (bwrap included) has ended; after `exited`, possibly later */
  readonly gone: Promise<void>;
  /** resource use, once exited */
  stats(): Promise<CgroupStats>;
}

/** How the engine isolates jobs, decided once at start. */
export interface SandboxOptions {
  allowNet: boolean;
  /** run without bubblewrap (development only) */
  unsafe: boolean;
  cgroups: CgroupPool | null;
  /** host uid/gid of slot 0 (slots count up), or null to keep the server's own */
  uidBase: number | null;
  /** files made once per engine: a minimal /etc/passwd and /etc/group */
  etcDir: string;
  /** a seccomp program file for `--seccomp` (Piston's nosocket), or null */
  seccompFile: string | null;
  /** the compiled stub (stub.ts), or null for the bash one */
  stub: string | null;
}

/** System paths a job may read: directories of the toolchains and the few /etc files they need. */
function systemMounts(allowNet: boolean): string[] {
  const args: string[] = ['--ro-bind', '/usr', '/usr'];
  for (const top of ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']) {
    let st;
    try { st = lstatSync(top); } catch { continue; }
    if (st.isSymbolicLink()) args.push('--symlink', readlinkSync(top), top);
    else if (st.isDirectory()) args.push('--ro-bind', top, top);
  }
  const etc = ['/etc/alternatives', '/etc/ld.so.cache', '/etc/ld.so.conf', '/etc/ld.so.conf.d', '/etc/localtime', '/etc/nsswitch.conf'];
  try { for (const e of readdirSync('/etc')) if (e.startsWith('java')) etc.push(`/etc/${e}`); } catch { /* no /etc */ }
  if (allowNet) etc.push('/etc/resolv.conf', '/etc/hosts', '/etc/ssl', '/etc/ca-certificates');
  for (const e of etc) if (existsSync(e)) args.push('--ro-bind', e, e);
  return args;
}

/** Sandboxed stages for one engine. */
export class Sandbox {
  private readonly fixed: string[];

  constructor(private readonly opts: SandboxOptions) {
    this.fixed = [
      '--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try',
      ...(opts.allowNet ? [] : ['--unshare-net']),
      '--die-with-parent', '--new-session', '--cap-drop', 'ALL',
      '--uid', String(BOX_UID), '--gid', String(BOX_UID), '--hostname', 'piston',
      ...systemMounts(opts.allowNet),
      '--ro-bind', `${opts.etcDir}/passwd`, '/etc/passwd', '--ro-bind', `${opts.etcDir}/group`, '/etc/group',
      // /dev read-only (device nodes still work), with a private writable /dev/shm for POSIX semaphores
      '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/dev/shm', '--remount-ro', '/dev', '--tmpfs', '/tmp', '--dir', BOX_JOBS,
    ];
  }

  /** Whether jobs run unsandboxed (the development switch). */
  get unsafe(): boolean {
    return this.opts.unsafe;
  }

  /** The host uid of a slot, or undefined when jobs keep the server's uid. */
  uidOf(slot: number): number | undefined {
    return this.opts.uidBase === null ? undefined : this.opts.uidBase + slot;
  }

  /** rlimit fields for the stub: `name=soft:hard` in bytes and seconds. */
  private rlimits(l: SandboxLimits, perSlotUid: boolean): string[] {
    const out = [`nofile=${l.openFiles}:${l.openFiles}`, 'core=0:0'];
    if (l.fileSize > 0) out.push(`fsize=${l.fileSize}:${l.fileSize}`);
    if (l.cpuTime > 0) {
      const s = Math.ceil(l.cpuTime / 1000);
      out.push(`cpu=${s}:${s + 1}`); // SIGXCPU at the limit, SIGKILL a second later
    }
    if (l.memory > 0 && (l.addressSpace || !this.opts.cgroups?.has('memory'))) out.push(`as=${l.memory}:${l.memory}`);
    // RLIMIT_NPROC counts every process of the uid: only meaningful with a uid per slot
    if (perSlotUid && !this.opts.cgroups?.has('pids')) out.push(`nproc=${l.processes}:${l.processes}`);
    return out;
  }

  /**
   * A sandbox made ahead of time for one stage of a job in `hostDir`: namespaces, mounts, uid and
   * cgroups are all set up (the cgroup move costs an RCU grace period, ~10 ms, off the job's critical
   * path), and the stub (stub.ts) waits for the command; `start` hands it over, and the stub sets the
   * rlimits and environment and starts the program on the job's stdio (fds 7–9).
   */
  async prepare(slot: number, hostDir: string, jobId: string): Promise<Zygote> {
    if (this.opts.unsafe) return new DirectZygote(this, slot, hostDir, jobId);
    const uid = this.uidOf(slot);
    const cg = this.opts.cgroups;
    const boxDir = `${BOX_JOBS}/${jobId}`;
    const argv = [
      ...this.fixed, '--clearenv', '--setenv', 'PATH', '/usr/local/bin:/usr/bin:/bin', '--setenv', 'HOME', '/tmp',
      '--bind', hostDir, boxDir, '--chdir', boxDir, ...(this.opts.stub ? ['--ro-bind', this.opts.stub, '/piston/stub'] : []),
      '--remount-ro', '/',
      // the stub is the namespace's init: it holds no job stdio while the job runs (stub.ts)
      '--as-pid-1', '--info-fd', '3', '--block-fd', '4', ...(this.opts.seccompFile ? ['--seccomp', '5'] : []),
      ...(this.opts.stub ? ['--', '/piston/stub'] : ['--', '/usr/bin/bash', '--noprofile', '--norc', '-c', BASH_STUB, 'piston']),
    ];
    // a fresh open per spawn: bwrap reads the program from its own file offset
    const seccomp = this.opts.seccompFile ? await open(this.opts.seccompFile, 'r') : null;
    // The job's stdio are fds 7–9, not bwrap's 0–2: bwrap's monitor process (outside the namespaces)
    // closes every fd but its own stdio, and it exits only after the namespaces are torn down (an RCU
    // grace period for the mount namespace, ~5 ms). Given bwrap's stdio, the job's end of output
    // would wait for that teardown; this way it comes when the job's last process is gone.
    const child = spawn('/usr/bin/bwrap', argv, {
      cwd: '/', env: {},
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe', seccomp ? seccomp.fd : 'ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
      ...(uid !== undefined ? { uid, gid: uid } : {}),
    });
    void seccomp?.close();
    // a job that dies early resets its pipes: never let that become an uncaught error
    for (const io of child.stdio) (io as Readable | Writable | null)?.on('error', () => undefined);
    const gone = exitOf(child);
    const exited = jobExit(child, gone);
    // preparing runs at low priority so running jobs keep the cores; the job itself gets normal priority
    // back in start() (lowering a nice value needs root, hence only as root)
    const renice = this.opts.uidBase !== null;
    if (renice && child.pid !== undefined) setNice(child.pid, 19);
    // the host pid of the namespace's init: killing it kills every process of the job
    const initPid = await readInfoPid(child);
    if (renice && initPid !== undefined) setNice(initPid, 19);
    if (initPid !== undefined && cg) await cg.enter(slot, initPid).catch(() => undefined);
    (child.stdio[4] as Writable | null)?.end('x');
    const io = child.stdio as unknown as (Readable | Writable | null)[];
    const proc = this.process(child, exited, gone, initPid, slot, {
      stdin: io[JOB_STDIN] as Writable, stdout: io[JOB_STDOUT] as Readable, stderr: io[JOB_STDERR] as Readable,
    });
    if (initPid === undefined) proc.signal('SIGKILL');
    return {
      start: async (command, env, limits) => {
        if (renice && initPid !== undefined) setNice(initPid, 0);
        if (cg) await cg.prepare(slot, limits.memory, limits.processes);
        const fields = [...this.rlimits(limits, uid !== undefined), '--', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), '--', ...command];
        (io[6] as Writable | null)?.end(`${fields.join('\0')}\0`);
        return proc;
      },
      discard: async () => {
        proc.signal('SIGKILL');
        await gone;
      },
    };
  }

  private process(
    child: ChildProcess, exited: Promise<SandboxExit>, gone: Promise<SandboxExit>, initPid: number | undefined, slot: number,
    stdio: { stdin: Writable; stdout: Readable; stderr: Readable },
  ): SandboxProcess {
    const cg = this.opts.cgroups;
    // once bwrap is gone its init's pid may belong to someone else: never signal it then
    let over = false;
    const goneP = gone.then(() => { over = true; });
    return {
      ...stdio,
      exited,
      gone: goneP,
      signal: (sig) => { if (!over) signalJob(child, initPid, sig, this.opts.unsafe); },
      stats: async () => (cg ? cg.stats(slot) : { cpuMs: undefined, memoryBytes: null, oomKilled: false }),
    };
  }

  /** Development mode only: the program runs directly under prlimit, in its own process group. */
  async spawnDirect(slot: number, hostDir: string, argv: readonly string[], env: Readonly<Record<string, string>>, limits: SandboxLimits): Promise<SandboxProcess> {
    const uid = this.uidOf(slot);
    const cg = this.opts.cgroups;
    if (cg) await cg.prepare(slot, limits.memory, limits.processes);
    const child = spawn('/usr/bin/prlimit', [...prlimitArgs(this.rlimits(limits, uid !== undefined)), '--', ...argv], {
      cwd: hostDir, env: { ...env, PWD: hostDir }, stdio: ['pipe', 'pipe', 'pipe'],
      ...(uid !== undefined ? { uid, gid: uid } : {}), detached: true,
    });
    for (const io of child.stdio) (io as Readable | Writable | null)?.on('error', () => undefined);
    const exited = exitOf(child);
    if (child.pid !== undefined && cg) await cg.enter(slot, child.pid).catch(() => undefined);
    return this.process(child, exited, exited, undefined, slot, {
      stdin: child.stdin as Writable, stdout: child.stdout as Readable, stderr: child.stderr as Readable,
    });
  }
}

/** A prepared sandbox waiting for its command. */
export interface Zygote {
  /** runs `command` with `env` under `limits`; the stage has begun when this resolves */
  start(command: readonly string[], env: Readonly<Record<string, string>>, limits: SandboxLimits): Promise<SandboxProcess>;
  /** kills an unused zygote; resolves once it is gone */
  discard(): Promise<void>;
}

class DirectZygote implements Zygote {
  constructor(private readonly sb: Sandbox, private readonly slot: number, private readonly hostDir: string, readonly jobId: string) {}
  start(command: readonly string[], env: Readonly<Record<string, string>>, limits: SandboxLimits): Promise<SandboxProcess> {
    return this.sb.spawnDirect(this.slot, this.hostDir, command, env, limits);
  }
  discard(): Promise<void> { return Promise.resolve(); /* nothing started yet */ }
}

/** The same limits for prlimit(1): `--nofile=soft:hard` etc. */
function prlimitArgs(fields: readonly string[]): string[] {
  return fields.map((f) => `--${f}`);
}

function setNice(pid: number, nice: number): void {
  try { setPriority(pid, nice); } catch { /* already gone */ }
}

function exitOf(child: ChildProcess): Promise<SandboxExit> {
  return new Promise<SandboxExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  });
}

/**
 * How the job's program ended: the status the stub reports on fd 6 once the program and every other
 * process of the namespace have been killed and reaped (stub.ts), so the answer need not wait for
 * the namespaces' teardown. Without a report (killed sandbox, bash stub, bwrap failure) it is bwrap's
 * own exit, with bwrap's complaint if it printed one.
 */
function jobExit(child: ChildProcess, gone: Promise<SandboxExit>): Promise<SandboxExit> {
  const io = child.stdio as unknown as (Readable | null)[];
  const status = io[6] ?? null;
  const complaint = io[2] ?? null;
  let reported = '';
  let err = '';
  complaint?.on('data', (d: Buffer) => { err += d.toString(); });
  const complaintDone = complaint ? once(complaint, 'close').catch(() => undefined) : Promise.resolve();
  return new Promise<SandboxExit>((resolve) => {
    status?.on('data', (d: Buffer) => {
      reported += d.toString();
      const m = /^(\d+)\n/.exec(reported);
      if (m) resolve({ code: Number(m[1]), signal: null });
    });
    void gone.then(async (exit) => {
      await Promise.race([complaintDone, new Promise((r) => setTimeout(r, 1000))]);
      resolve(err.trim() ? { ...exit, sandboxError: err } : exit);
    });
  });
}

/** Reads bwrap's `--info-fd` JSON for the child pid (null if bwrap died before writing it). */
async function readInfoPid(child: ChildProcess): Promise<number | undefined> {
  const info = child.stdio[3] as Readable | null;
  if (!info) return undefined;
  let text = '';
  const done = new Promise<number | undefined>((resolve) => {
    info.on('data', (d: Buffer) => {
      text += d.toString();
      const m = /"child-pid":\s*(\d+)/.exec(text);
      if (m && text.includes('}')) resolve(Number(m[1]));
    });
    info.once('close', () => resolve(undefined));
    child.once('exit', () => resolve(undefined));
  });
  const pid = await done;
  info.destroy();
  return pid;
}

/** Every descendant of `pid`, read from /proc (children lists of each thread). */
function descendants(pid: number): number[] {
  const out: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop() as number;
    let tasks: string[];
    try { tasks = readdirSync(`/proc/${p}/task`); } catch { continue; }
    for (const t of tasks) {
      let kids: string;
      try { kids = readFileSync(`/proc/${p}/task/${t}/children`, 'utf8'); } catch { continue; }
      for (const k of kids.split(' ')) if (k.trim()) { out.push(Number(k)); stack.push(Number(k)); }
    }
  }
  return out;
}

function signalJob(child: ChildProcess, initPid: number | undefined, sig: NodeJS.Signals, unsafe: boolean): void {
  const kill = (pid: number, s: NodeJS.Signals): void => { try { process.kill(pid, s); } catch { /* already gone */ } };
  if (unsafe) {
    if (child.pid !== undefined) kill(-child.pid, sig);
    return;
  }
  if (sig === 'SIGKILL') {
    if (initPid !== undefined) kill(initPid, 'SIGKILL'); // the pid namespace dies with its init
    else if (child.pid !== undefined) kill(child.pid, 'SIGKILL'); // --die-with-parent takes the rest
    return;
  }
  // the init (bwrap) would ignore most signals: deliver to the job's own processes
  if (initPid !== undefined) for (const p of descendants(initPid)) kill(p, sig);
}

/** Tries a real sandbox once: null when it works, else bwrap's complaint. */
export async function trySandbox(sandbox: Sandbox, hostDir: string): Promise<string | null> {
  const z = await sandbox.prepare(0, hostDir, 'probe');
  const sp = await z.start(['/usr/bin/true'], { PISTON_LANGUAGE: 'probe' },
    { memory: -1, cpuTime: 5000, processes: 16, openFiles: 64, fileSize: 1024, addressSpace: false });
  let err = '';
  sp.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const closed = once(sp.stderr, 'close').catch(() => undefined);
  sp.stdout.resume();
  sp.stdin.end();
  const timer = setTimeout(() => sp.signal('SIGKILL'), 10_000);
  const exit = await sp.exited;
  clearTimeout(timer);
  await Promise.race([closed, new Promise((r) => setTimeout(r, 1000))]);
  if (exit.code === 0) return null;
  return `${exit.sandboxError ?? ''}${err}`.trim() || `exit ${exit.code ?? exit.signal ?? '?'}`;
}

/** Whether bubblewrap is installed. */
export function hasBwrap(): boolean {
  return spawnSync('/usr/bin/bwrap', ['--version']).status === 0;
}

/**
 * Per-job cgroups (v1: memory, pids, cpuacct), one directory per queue slot, created once and
 * reused so a job costs a few small writes rather than mkdir/rmdir. They are created below the
 * engine process's own cgroup so jobs stay inside whatever limits the host put on the server.
 * Where a controller is not writable, the engine falls back to rlimits (sandbox.ts).
 */
import { mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

type Controller = 'memory' | 'pids' | 'cpuacct';

/** What a job used, read from its cgroup after it ended. */
export interface CgroupStats {
  cpuMs: number | undefined;
  memoryBytes: number | null;
  oomKilled: boolean;
}

function ownPath(controller: Controller): string | null {
  try {
    for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
      const [, ctrls, p] = line.split(':');
      if (ctrls !== undefined && p !== undefined && ctrls.split(',').includes(controller)) return p;
    }
  } catch { /* no /proc */ }
  return null;
}

/** Removes cgroups left by engines of processes that no longer exist (killed without close()). */
export function sweepStaleCgroups(prefix: string): void {
  for (const c of ['memory', 'pids', 'cpuacct'] as const) {
    const own = ownPath(c);
    if (own === null) continue;
    const parent = path.join('/sys/fs/cgroup', c, own);
    let entries: string[];
    try { entries = readdirSync(parent); } catch { continue; }
    for (const e of entries) {
      const pid = staleOwner(e, prefix);
      if (pid === null) continue;
      const dir = path.join(parent, e);
      try {
        for (const s of readdirSync(dir)) if (/^s\d+$/.test(s)) rmdirSync(path.join(dir, s));
        rmdirSync(dir);
      } catch { /* still has processes: leave it */ }
    }
  }
}

/** The pid in `<prefix><pid>-…` when that process is gone, else null. */
export function staleOwner(name: string, prefix: string): number | null {
  if (!name.startsWith(prefix)) return null;
  const pid = Number(name.slice(prefix.length).split('-')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return null;
  try {
    process.kill(pid, 0);
    return null; // alive
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH' ? pid : null;
  }
}

function tryWrite(file: string, value: string): void {
  try { writeFileSync(file, value); } catch { /* optional file (memsw without swap accounting) */ }
}

function tryRead(file: string): string | null {
  try { return readFileSync(file, 'utf8'); } catch { return null; }
}

function oomKills(memDir: string): number {
  return Number(/oom_kill (\d+)/.exec(tryRead(path.join(memDir, 'memory.oom_control')) ?? '')?.[1] ?? 0);
}

/** The per-slot cgroups of one engine. */
export class CgroupPool {
  private readonly roots = new Map<Controller, string>();
  private readonly made = new Set<string>();
  private readonly lastLimit = new Map<string, string>();
  private readonly oomSeen = new Map<number, number>();
  /** memory charged to the slot before its job started (page cache of earlier jobs stays charged) */
  private readonly baseline = new Map<number, number>();

  private constructor(name: string) {
    for (const c of ['memory', 'pids', 'cpuacct'] as const) {
      const own = ownPath(c);
      if (own === null) continue;
      const dir = path.join('/sys/fs/cgroup', c, own, name);
      try {
        mkdirSync(dir);
        this.roots.set(c, dir);
      } catch { /* controller missing or read-only: rlimits take over */ }
    }
  }

  /** A pool when the memory or pids controller is usable, else null. */
  static create(name: string): CgroupPool | null {
    const pool = new CgroupPool(name);
    if (!pool.has('memory') && !pool.has('pids')) {
      pool.destroy();
      return null;
    }
    return pool;
  }

  /** Whether `c` is enforced by cgroups. */
  has(c: Controller): boolean {
    return this.roots.has(c);
  }

  private dir(c: Controller, slot: number): string | null {
    const root = this.roots.get(c);
    if (!root) return null;
    const d = path.join(root, `s${slot}`);
    if (!this.made.has(d)) {
      try { mkdirSync(d); } catch (err) { if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; }
      this.made.add(d);
    }
    return d;
  }

  // Limit and counter files are tiny in-kernel files: synchronous access costs microseconds, while a
  // round trip through the thread pool costs a scheduler wake-up per file on a busy machine.
  private setOnce(file: string, value: string): void {
    if (this.lastLimit.get(file) === value) return;
    writeFileSync(file, value);
    this.lastLimit.set(file, value);
  }

  /** Sets the slot's limits and resets its counters before a stage. */
  async prepare(slot: number, memoryBytes: number, maxProcesses: number): Promise<void> {
    const mem = this.dir('memory', slot);
    if (mem) {
      const limit = memoryBytes > 0 ? String(memoryBytes) : '-1';
      if (this.lastLimit.get(path.join(mem, 'memory.limit_in_bytes')) !== limit) {
        // memsw must stay ≥ the memory limit: lift it, set the limit, then pin memsw to it (no swap escape)
        tryWrite(path.join(mem, 'memory.memsw.limit_in_bytes'), '-1');
        this.setOnce(path.join(mem, 'memory.limit_in_bytes'), limit);
        tryWrite(path.join(mem, 'memory.memsw.limit_in_bytes'), limit);
      }
      tryWrite(path.join(mem, 'memory.max_usage_in_bytes'), '0');
      this.baseline.set(slot, Number(tryRead(path.join(mem, 'memory.usage_in_bytes')) ?? 0));
      if (!this.oomSeen.has(slot)) this.oomSeen.set(slot, oomKills(mem));
    }
    const pids = this.dir('pids', slot);
    if (pids) this.setOnce(path.join(pids, 'pids.max'), String(maxProcesses));
    const cpu = this.dir('cpuacct', slot);
    if (cpu) tryWrite(path.join(cpu, 'cpuacct.usage'), '0');
    return Promise.resolve();
  }

  /**
   * Moves `pid` (the sandbox's init, before it starts the job) into the slot's cgroups. A cgroup v1
   * move waits for an RCU grace period (milliseconds) inside write(2); done from Node's thread pool it
   * would hold pool threads that the running jobs' file I/O needs, so a helper process does the writes.
   */
  async enter(slot: number, pid: number): Promise<void> {
    const files = [...this.roots.keys()].map((c) => path.join(this.dir(c, slot) as string, 'cgroup.procs'));
    if (!(await this.mover.move(files, pid))) {
      for (const f of files) await writeFile(f, String(pid));
    }
  }

  private readonly mover = new CgroupMover();

  /** What the slot's last job used. */
  async stats(slot: number): Promise<CgroupStats> {
    const mem = this.dir('memory', slot);
    const cpu = this.dir('cpuacct', slot);
    const peak = mem ? tryRead(path.join(mem, 'memory.max_usage_in_bytes')) : null;
    const usage = cpu ? tryRead(path.join(cpu, 'cpuacct.usage')) : null;
    const oom = mem ? oomKills(mem) : 0;
    const before = this.oomSeen.get(slot) ?? 0;
    this.oomSeen.set(slot, oom);
    return Promise.resolve({
      cpuMs: usage === null ? undefined : Number(usage) / 1e6,
      memoryBytes: peak === null ? null : Math.max(0, Number(peak) - (this.baseline.get(slot) ?? 0)),
      oomKilled: oom > before,
    });
  }

  /** Removes every slot directory (they are empty once their jobs ended). */
  destroy(): void {
    for (const d of this.made) try { rmdirSync(d); } catch { /* still busy: the kernel frees it when empty */ }
    for (const d of this.roots.values()) try { rmdirSync(d); } catch { /* idem */ }
    this.made.clear();
    this.roots.clear();
    this.mover.close();
  }
}

/** A long-lived helper that writes a pid into cgroup.procs files, one request per line, in order. */
class CgroupMover {
  private child: ChildProcess | null = null;
  private readonly waiting: ((ok: boolean) => void)[] = [];
  private buffered = '';

  private start(): ChildProcess | null {
    if (this.child) return this.child;
    const script = 'while read -r p files; do ok=ok; for f in $files; do echo "$p" > "$f" 2>/dev/null || ok=err; done; echo $ok; done';
    try {
      const child = spawn('/usr/bin/bash', ['--noprofile', '--norc', '-c', script], { stdio: ['pipe', 'pipe', 'ignore'], env: {} });
      child.stdout?.on('data', (d: Buffer) => {
        this.buffered += d.toString();
        let i: number;
        while ((i = this.buffered.indexOf('\n')) >= 0) {
          const line = this.buffered.slice(0, i);
          this.buffered = this.buffered.slice(i + 1);
          this.waiting.shift()?.(line === 'ok');
        }
      });
      const fail = (): void => {
        this.child = null;
        for (const w of this.waiting.splice(0)) w(false);
      };
      child.on('exit', fail);
      child.on('error', fail);
      child.stdin?.on('error', () => undefined);
      child.unref();
      (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
      (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
      this.child = child;
      return child;
    } catch {
      return null;
    }
  }

  /** True when every file took the pid; false makes the caller write them itself. */
  move(files: readonly string[], pid: number): Promise<boolean> {
    const child = this.start();
    if (!child?.stdin?.writable || files.some((f) => /\s/.test(f))) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      child.stdin?.write(`${pid} ${files.join(' ')}\n`);
    });
  }

  close(): void {
    this.child?.kill('SIGKILL');
    this.child = null;
  }
}

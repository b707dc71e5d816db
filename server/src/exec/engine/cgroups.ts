/**
 * Per-job cgroups (v1: memory, pids, cpuacct), one directory per queue slot, created once and
 * reused so a job costs a few small writes rather than mkdir/rmdir. They are created below the
 * engine process's own cgroup so jobs stay inside whatever limits the host put on the server.
 * Where a controller is not writable, the engine falls back to rlimits (sandbox.ts).
 */
import { mkdirSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
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

  private async setOnce(file: string, value: string): Promise<void> {
    if (this.lastLimit.get(file) === value) return;
    await writeFile(file, value);
    this.lastLimit.set(file, value);
  }

  /** Sets the slot's limits and resets its counters before a stage. */
  async prepare(slot: number, memoryBytes: number, maxProcesses: number): Promise<void> {
    const jobs: Promise<void>[] = [];
    const mem = this.dir('memory', slot);
    if (mem) {
      const limit = memoryBytes > 0 ? String(memoryBytes) : '-1';
      jobs.push((async () => {
        if (this.lastLimit.get(path.join(mem, 'memory.limit_in_bytes')) !== limit) {
          // memsw must stay ≥ the memory limit: lift it, set the limit, then pin memsw to it (no swap escape)
          await writeFile(path.join(mem, 'memory.memsw.limit_in_bytes'), '-1').catch(() => undefined);
          await this.setOnce(path.join(mem, 'memory.limit_in_bytes'), limit);
          await writeFile(path.join(mem, 'memory.memsw.limit_in_bytes'), limit).catch(() => undefined);
        }
        await writeFile(path.join(mem, 'memory.max_usage_in_bytes'), '0').catch(() => undefined);
        const usage = await readFile(path.join(mem, 'memory.usage_in_bytes'), 'utf8').catch(() => '0');
        this.baseline.set(slot, Number(usage));
      })());
    }
    const pids = this.dir('pids', slot);
    if (pids) jobs.push(this.setOnce(path.join(pids, 'pids.max'), String(maxProcesses)));
    const cpu = this.dir('cpuacct', slot);
    if (cpu) jobs.push(writeFile(path.join(cpu, 'cpuacct.usage'), '0'));
    await Promise.all(jobs);
    if (mem && !this.oomSeen.has(slot)) this.oomSeen.set(slot, await this.oomKills(mem));
  }

  /** Moves `pid` (the sandbox's init, before it starts the job) into the slot's cgroups. */
  async enter(slot: number, pid: number): Promise<void> {
    await Promise.all([...this.roots.keys()].map((c) => writeFile(path.join(this.dir(c, slot) as string, 'cgroup.procs'), String(pid))));
  }

  private async oomKills(memDir: string): Promise<number> {
    const text = await readFile(path.join(memDir, 'memory.oom_control'), 'utf8').catch(() => '');
    return Number(/oom_kill (\d+)/.exec(text)?.[1] ?? 0);
  }

  /** What the slot's last job used. */
  async stats(slot: number): Promise<CgroupStats> {
    const mem = this.dir('memory', slot);
    const cpu = this.dir('cpuacct', slot);
    const [peak, usage, oom] = await Promise.all([
      mem ? readFile(path.join(mem, 'memory.max_usage_in_bytes'), 'utf8').catch(() => null) : null,
      cpu ? readFile(path.join(cpu, 'cpuacct.usage'), 'utf8').catch(() => null) : null,
      mem ? this.oomKills(mem) : 0,
    ]);
    const before = this.oomSeen.get(slot) ?? 0;
    this.oomSeen.set(slot, oom);
    return {
      cpuMs: usage === null ? undefined : Number(usage) / 1e6,
      memoryBytes: peak === null ? null : Math.max(0, Number(peak) - (this.baseline.get(slot) ?? 0)),
      oomKilled: oom > before,
    };
  }

  /** Removes every slot directory (they are empty once their jobs ended). */
  destroy(): void {
    for (const d of this.made) try { rmdirSync(d); } catch { /* still busy: the kernel frees it when empty */ }
    for (const d of this.roots.values()) try { rmdirSync(d); } catch { /* idem */ }
    this.made.clear();
    this.roots.clear();
  }
}

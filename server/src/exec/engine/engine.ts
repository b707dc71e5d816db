/**
 * The engine: runtimes, sandbox, queue and job directories of one process, decided once at start.
 * piston-api.ts puts Piston's HTTP and WebSocket API in front of it.
 */
import { randomInt } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync, readdirSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import type { Config } from '../../config.js';
import type { Logger } from '../../log.js';
import type { ExecuteResponse } from '../piston/protocol.js';
import { CgroupPool, staleOwner, sweepStaleCgroups } from './cgroups.js';
import { Job, makeWorkspace, type JobEvents, type Workspace } from './job.js';
import { JobQueue } from './queue.js';
import { probeRuntimes, type Runtime } from './runtimes.js';
import { Sandbox, hasBwrap, trySandbox } from './sandbox.js';
import { noSocketFilter } from './seccomp.js';
import { buildStub } from './stub.js';
import { checkLimitOverrides, type JobSpec } from './validate.js';

const FIX = 'install bubblewrap (apt-get install bubblewrap) and allow unprivileged user namespaces '
  + '(sysctl -w kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0, and on Ubuntu '
  + 'kernel.apparmor_restrict_unprivileged_userns=0), or point PISTON_URL at a real Piston; '
  + 'CODEX_UNSAFE_NO_SANDBOX=true runs code unsandboxed (development only)';

const PREFIX = 'codex-engine-';
/**
 * Slots whose first sandbox is prepared at start. A used slot always prepares its next sandbox, so
 * a steady load finds every slot it uses ready (an idle prepared sandbox is two small processes).
 */
const WARM_AT_START = 8;
/** With no job started meanwhile, used slots prepare their next sandbox after this long (see prepareLater). */
const PREPARE_IDLE_MS = 20;
/** Used slots prepare their next sandbox only while at most this many jobs run. */
const PREPARE_BELOW = Math.max(1, availableParallelism());

function roomyTmpfs(dir: string): boolean {
  try {
    const st = statfsSync(dir);
    return existsSync(dir) && st.bsize * st.bavail >= 2 * 1024 ** 3;
  } catch {
    return false;
  }
}

function mapsAllUids(): boolean {
  try {
    return readFileSync('/proc/self/uid_map', 'utf8').split('\n').some((l) => {
      const [inside, , count] = l.trim().split(/\s+/).map(Number);
      return inside === 0 && (count ?? 0) >= 2 ** 31;
    });
  } catch {
    return false;
  }
}

/** Removes job directories of engines whose process died without close(). */
function sweepStale(dir: string): void {
  let entries: string[] = [];
  try { entries = readdirSync(dir); } catch { return; }
  for (const e of entries) {
    if (staleOwner(e, PREFIX) !== null) rmSync(path.join(dir, e), { recursive: true, force: true });
  }
}

/** A started engine. */
export class Engine {
  private readonly active = new Set<Job>();
  private readonly removals = new Set<Promise<unknown>>();
  /** per slot, the next job's directory with its first sandbox already prepared */
  private readonly warm = new Map<number, Promise<Workspace>>();
  /** slots whose prepared sandbox is ready now */
  private readonly ready = new Set<number>();
  /** slots to prepare once the load allows (see settle) */
  private readonly toPrepare = new Set<number>();
  /** prepares the slots in `toPrepare` when no job started for a while (see `prepareLater`) */
  private idleTimer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    readonly config: Config,
    readonly log: Logger,
    readonly runtimes: readonly Runtime[],
    private readonly sandbox: Sandbox,
    private readonly queue: JobQueue,
    private readonly baseDir: string,
    private readonly cgroups: CgroupPool | null,
    private readonly why: string | null,
  ) {
    process.once('exit', this.onExit);
  }

  /**
   * Prepares the next sandboxes of used slots, but only while few jobs run: in a burst the cores
   * go to the jobs, and the sandboxes are made once the burst is over.
   */
  private settle(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.active.size > PREPARE_BELOW) return;
    for (const slot of this.toPrepare) this.rewarm(slot);
    this.toPrepare.clear();
  }

  /**
   * When to prepare a used slot's next sandbox. Spawning bwrap forks the server, which blocks its
   * event loop for milliseconds (the fork copies the page tables: ~3 ms at 70 MB here, more in a
   * big server). Done right after a job ends, that lands on the next request of a client that
   * runs jobs one after another. So it waits for the next job to have started its program (Job
   * calls settle then, and nothing of that job needs the event loop until its output arrives), or
   * for a short idle spell.
   */
  private prepareLater(): void {
    if (this.idleTimer || this.closed) return;
    this.idleTimer = setTimeout(() => this.settle(), PREPARE_IDLE_MS);
    this.idleTimer.unref();
  }

  private warmUp(): void {
    if (!this.why) for (let slot = 0; slot < Math.min(WARM_AT_START, this.config.maxConcurrentJobs); slot++) this.rewarm(slot);
  }

  private get jobsDir(): string {
    return path.join(this.baseDir, 'jobs');
  }

  private rewarm(slot: number): void {
    if (this.closed || this.warm.has(slot)) return;
    const w = makeWorkspace(this.sandbox, this.jobsDir, slot);
    w.then(async (ws) => {
      await ws.zygote;
      if (this.warm.get(slot) === w) this.ready.add(slot);
    }).catch(() => undefined);
    this.warm.set(slot, w);
  }

  /** Last-chance cleanup when the process exits without close(): jobs die with it (--die-with-parent). */
  private readonly onExit = (): void => {
    rmSync(this.baseDir, { recursive: true, force: true });
    this.cgroups?.destroy();
  };

  /** Probes runtimes and the sandbox. Never throws for a missing sandbox: `problem()` says why. */
  static async start(config: Config, log: Logger): Promise<Engine> {
    const bad = checkLimitOverrides(config.limitOverrides);
    if (bad) throw new Error(bad);
    // job files live on tmpfs where it is roomy: pages a job writes are then charged to its memory
    // cgroup, not to the disk. A small /dev/shm (Docker's default is 64 MiB, and PostgreSQL needs it)
    // is left alone.
    const shm = roomyTmpfs('/dev/shm') ? '/dev/shm' : tmpdir();
    sweepStale(shm);
    const baseDir = await mkdtemp(path.join(shm, `${PREFIX}${process.pid}-`));
    await chmod(baseDir, 0o711);
    const etcDir = path.join(baseDir, 'etc');
    await mkdir(etcDir, { mode: 0o755 });
    await writeFile(path.join(etcDir, 'passwd'), 'root:x:0:0:root:/root:/usr/sbin/nologin\nrunner:x:1000:1000:runner:/tmp:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n', { mode: 0o644 });
    await writeFile(path.join(etcDir, 'group'), 'root:x:0:\nrunner:x:1000:\nnogroup:x:65534:\n', { mode: 0o644 });
    const jobsDir = path.join(baseDir, 'jobs');
    await mkdir(jobsDir, { mode: 0o711 });

    // root whose user namespace maps the whole uid range (not, e.g., root of `unshare -r`)
    const isRoot = process.getuid?.() === 0 && mapsAllUids();
    if (isRoot) sweepStaleCgroups(PREFIX);
    const cgroups = isRoot ? CgroupPool.create(`${PREFIX}${process.pid}-${randomInt(1e9)}`) : null;
    // a host uid per slot: outside its namespaces a job is no one, and its processes are countable
    const uidBase = isRoot ? 100_000 + randomInt(0, 8000) * 1000 : null;
    const unsafe = config.unsafeNoSandbox;
    const filter = config.allowNet ? null : noSocketFilter();
    const seccompFile = filter ? path.join(etcDir, 'nosocket.bpf') : null;
    if (filter && seccompFile) await writeFile(seccompFile, filter, { mode: 0o644 });
    const stub = existsSync('/usr/bin/gcc') ? await buildStub(etcDir) : null;
    const sandbox = new Sandbox({ allowNet: config.allowNet, unsafe: false, cgroups, uidBase, etcDir, seccompFile, stub });
    let why: string | null = null;
    const runtimesP = probeRuntimes();
    if (!hasBwrap()) why = `bubblewrap (/usr/bin/bwrap) is not installed: ${FIX}`;
    else {
      const err = await trySandbox(sandbox, jobsDir).catch((e: unknown) => String(e));
      if (err) why = `bubblewrap cannot create a sandbox here (${err}): ${FIX}`;
    }
    let chosen = sandbox;
    if (why && unsafe) {
      log.error({ problem: why }, 'CODEX_UNSAFE_NO_SANDBOX=true: RUNNING STUDENT CODE WITHOUT ANY SANDBOX. Never do this on a shared machine.');
      chosen = new Sandbox({ allowNet: true, unsafe: true, cgroups, uidBase, etcDir, seccompFile: null, stub: null });
      why = null;
    } else if (why) log.error({ problem: why }, 'embedded engine cannot run code');
    const runtimes = await runtimesP;
    log.info({
      runtimes: runtimes.map((r) => `${r.language}-${r.version}`), sandbox: chosen.unsafe ? 'NONE (unsafe)' : 'bubblewrap',
      cgroups: cgroups ? 'v1' : 'none (rlimits)', jobsDir,
    }, 'embedded engine ready');
    const engine: Engine = new Engine(config, log, runtimes, chosen, new JobQueue(config.maxConcurrentJobs, (slot) => engine.ready.has(slot)), baseDir, cgroups, why);
    engine.warmUp();
    return engine;
  }

  /** Null when jobs can run, else why not and how to fix it. */
  problem(): string | null {
    return this.why;
  }

  /** Jobs running / waiting. */
  get load(): { running: number; queued: number } {
    return { running: this.queue.running, queued: this.queue.queued };
  }

  /**
   * Runs a job: waits for a slot, writes its files into the slot's prepared workspace, runs the
   * stages (reporting through `events` for WebSocket clients) and always cleans up. `onJob` hands the job out for stdin and signals.
   */
  async run(spec: JobSpec, events?: JobEvents, onJob?: (job: Job) => void): Promise<ExecuteResponse> {
    if (this.why) throw new Error(this.why);
    const slot = await this.queue.acquire();
    let job: Job | undefined;
    try {
      this.toPrepare.delete(slot);
      const warm = this.warm.get(slot);
      this.warm.delete(slot);
      this.ready.delete(slot);
      const ws = await (warm ?? makeWorkspace(this.sandbox, this.jobsDir, slot));
      job = new Job(spec, this.sandbox, ws, slot, events, () => this.settle());
      this.active.add(job);
      if (this.sandbox.unsafe) this.log.warn({ job: job.id }, 'running a job WITHOUT a sandbox (CODEX_UNSAFE_NO_SANDBOX)');
      onJob?.(job);
      await job.prime();
      return await job.execute();
    } finally {
      if (job) {
        const j = job;
        // every process of the job is gone (or being killed); the directory goes in the background
        const removal = j.cleanup()
          .catch((err: unknown) => this.log.warn({ err, job: j.id }, 'job cleanup failed'))
          .finally(() => this.removals.delete(removal));
        this.removals.add(removal);
        this.active.delete(j);
      }
      // The slot (its uid and cgroups) is reused only once the job's sandboxes have ended entirely;
      // that is after the answer, which no longer waits for namespace teardown (stub.ts).
      const ended = job ? job.gone() : Promise.resolve();
      void ended.catch(() => undefined).then(() => setImmediate(() => {
        this.queue.release(slot);
        this.toPrepare.add(slot);
        this.prepareLater();
      }));
    }
  }

  /** Kills every job, removes their directories and the engine's cgroups. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    process.removeListener('exit', this.onExit);
    this.queue.close();
    clearTimeout(this.idleTimer);
    const jobs = [...this.active];
    for (const j of jobs) j.cancel();
    const discarded = [...this.warm.values()].map((w) => w.then(async (ws) => (await ws.zygote).discard(), () => undefined));
    this.warm.clear();
    // wait for running jobs to unwind (their finally blocks remove the directories)
    const deadline = Date.now() + 5000;
    while (this.active.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await Promise.all([...this.removals]);
    // the prepared sandboxes must be gone before their cgroups can be removed
    await Promise.race([Promise.all(discarded), new Promise((r) => setTimeout(r, 3000))]);
    await rm(this.baseDir, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
    this.cgroups?.destroy();
  }
}

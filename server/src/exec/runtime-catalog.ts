/**
 * The engine's runtimes list, cached and refreshed (for `GET /api/runtimes`), and the lookup a run
 * uses to name the language and version it will get before Piston answers, or to refuse clearly
 * when the engine has no runtime for it.
 */
import semver from 'semver';
import type { ExecEngine } from './engine.js';
import type { PistonRuntime } from './piston/protocol.js';

/** Result of resolving a language and version range. */
export type Resolution =
  | { ok: true; language: string; version: string }
  | { ok: false; error: string }
  /** the engine's list could not be read; the run goes ahead and the engine decides */
  | { ok: 'unknown' };

/** A cached view of the engine's runtimes. */
export class RuntimeCatalog {
  private cached: { at: number; list: PistonRuntime[] } | null = null;
  private inflight: Promise<PistonRuntime[]> | null = null;

  constructor(
    private readonly engine: ExecEngine,
    private readonly maxAgeMs = 30_000,
  ) {}

  /** The list, from cache when younger than maxAge (or `force` to refresh). Throws when the engine does not answer. */
  async list(force = false): Promise<PistonRuntime[]> {
    if (!force && this.cached && Date.now() - this.cached.at < this.maxAgeMs) return this.cached.list;
    this.inflight ??= this.engine
      .runtimes()
      .then((list) => {
        this.cached = { at: Date.now(), list };
        return list;
      })
      .finally(() => {
        this.inflight = null;
      });
    return this.inflight;
  }

  /** Finds the runtime Piston would pick for `language` (name or alias) and the semver range `version`. */
  async resolve(language: string, version: string): Promise<Resolution> {
    let list: PistonRuntime[];
    try {
      list = await this.list();
      let hit = pick(list, language, version);
      if (!hit) {
        // a runtime may have been installed since the last refresh
        list = await this.list(true);
        hit = pick(list, language, version);
      }
      if (hit) return { ok: true, language: hit.language, version: hit.version };
    } catch {
      return { ok: 'unknown' };
    }
    const have = list.map((r) => `${r.language} ${r.version}`).join(', ') || 'none';
    return { ok: false, error: `${language}-${version} runtime is unknown (the engine has: ${have})` };
  }
}

/** Piston's choice: exact language or alias, the highest version satisfying the range. */
export function pick(list: readonly PistonRuntime[], language: string, version: string): PistonRuntime | undefined {
  const matches = list.filter(
    (r) => (r.language === language || r.aliases.includes(language)) && satisfies(r.version, version),
  );
  return matches.sort((a, b) => compare(b.version, a.version))[0];
}

function satisfies(v: string, range: string): boolean {
  if (v === range) return true;
  const c = semver.coerce(v);
  return c !== null && semver.validRange(range) !== null && semver.satisfies(c, range);
}

function compare(a: string, b: string): number {
  const ca = semver.coerce(a);
  const cb = semver.coerce(b);
  return ca && cb ? semver.compare(ca, cb) : a.localeCompare(b);
}

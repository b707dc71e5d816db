/**
 * Turns an execute request or `init` frame into a job, with Piston's validation order and exact
 * messages (PISTON-API.md §3). Where Piston's answer is a defect (400 `{}` for a non-string stdin,
 * 500 for a path escape, a non-string file name or non-array args) we answer a 400 naming the field
 * instead (§12); everything else is Piston's behaviour, quirks included (string args are spread
 * into characters, `x || default` for limits).
 */
import path from 'node:path';
import semver from 'semver';
import type { Config } from '../../config.js';
import type { Runtime } from './runtimes.js';

/** A limit Piston lets a request lower (never raise). */
export type RequestLimit = 'compile_memory_limit' | 'run_memory_limit' | 'compile_timeout' | 'run_timeout' | 'compile_cpu_time' | 'run_cpu_time';

/** Every per-runtime limit (the keys of PISTON_LIMIT_OVERRIDES). */
export type LimitKey = RequestLimit | 'max_process_count' | 'max_open_files' | 'max_file_size' | 'output_max_size';

/** Resolved limits of a runtime: `PISTON_LIMIT_OVERRIDES[language]` first, then the global value (Piston's `||`). */
export type Limits = Record<LimitKey, number>;

/** Limits of one stage of a job. -1 (or ≤ 0) means none. */
export interface StageLimits {
  timeout: number;
  cpuTime: number;
  memory: number;
}

/** A validated job, ready for the queue. */
export interface JobSpec {
  runtime: Runtime;
  files: { name: string; content: Buffer }[];
  /** names of the utf8 files (what the compile stage receives) */
  codeFiles: string[];
  args: string[];
  /** HTTP only: written once, then closed */
  stdin: string;
  compile: StageLimits;
  run: StageLimits;
  limits: Limits;
}

/** A request Piston (or we) reject with 400 `{"message": …}`. */
export class RequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RequestError';
  }
}

const REQUEST_LIMITS: readonly RequestLimit[] = [
  'compile_memory_limit', 'run_memory_limit', 'compile_timeout', 'run_timeout', 'compile_cpu_time', 'run_cpu_time',
];

/** The limits that apply to `language`, overrides first. */
export function limitsFor(config: Config, language: string): Limits {
  const global: Limits = {
    compile_memory_limit: config.compileMemoryLimit, run_memory_limit: config.runMemoryLimit,
    compile_timeout: config.compileTimeout, run_timeout: config.runTimeout,
    compile_cpu_time: config.compileCpuTime, run_cpu_time: config.runCpuTime,
    max_process_count: config.maxProcessCount, max_open_files: config.maxOpenFiles,
    max_file_size: config.maxFileSize, output_max_size: config.outputMaxSize,
  };
  const raw: unknown = (config.limitOverrides as Record<string, unknown>)[language];
  if (raw && typeof raw === 'object') {
    for (const key of Object.keys(global) as LimitKey[]) {
      const v: unknown = (raw as Record<string, unknown>)[key];
      if (typeof v === 'number' && v) global[key] = v; // Piston uses `||`: 0 falls through
    }
  }
  return global;
}

/** Checks PISTON_LIMIT_OVERRIDES at start: Piston refuses unknown keys and non-numbers. */
export function checkLimitOverrides(overrides: unknown): string | null {
  if (!overrides || typeof overrides !== 'object') return 'PISTON_LIMIT_OVERRIDES must be a JSON object';
  const known = new Set<string>([...REQUEST_LIMITS, 'max_process_count', 'max_open_files', 'max_file_size', 'output_max_size']);
  for (const [lang, limits] of Object.entries(overrides)) {
    if (!limits || typeof limits !== 'object') return `PISTON_LIMIT_OVERRIDES.${lang} must be an object`;
    for (const [key, value] of Object.entries(limits as Record<string, unknown>)) {
      if (!known.has(key)) return `PISTON_LIMIT_OVERRIDES.${lang}.${key} is not a known limit`;
      if (typeof value !== 'number') return `PISTON_LIMIT_OVERRIDES.${lang}.${key} must be a number`;
    }
  }
  return null;
}

function findRuntime(runtimes: readonly Runtime[], language: string, version: string): Runtime | undefined {
  let best: Runtime | undefined;
  for (const rt of runtimes) {
    if (rt.language !== language && !rt.aliases.includes(language)) continue;
    if (!semver.satisfies(rt.version, version)) continue;
    if (!best || semver.gt(rt.version, best.version)) best = rt;
  }
  return best;
}

function decode(content: string, encoding: unknown): Buffer {
  if (encoding === 'base64') return Buffer.from(content, 'base64');
  if (encoding === 'hex') return Buffer.from(content, 'hex');
  return Buffer.from(content, 'utf8'); // Piston writes any other encoding as utf8
}

/** Validates `body` (an execute request or init frame) in Piston's order; throws RequestError. */
export function validateJob(body: unknown, runtimes: readonly Runtime[], config: Config): JobSpec {
  // Piston reads fields off whatever was sent; JSON `null` or a number has no fields.
  const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const { language, version, files } = b;
  if (typeof language !== 'string' || language === '') throw new RequestError('language is required as a string');
  if (typeof version !== 'string' || version === '') throw new RequestError('version is required as a string');
  if (!Array.isArray(files)) throw new RequestError('files is required as an array');
  files.forEach((f: unknown, i) => {
    if (!f || typeof f !== 'object' || typeof (f as Record<string, unknown>).content !== 'string') {
      throw new RequestError(`files[${i}].content is required as a string`);
    }
  });
  const fileObjs = files as Record<string, unknown>[];
  const runtime = findRuntime(runtimes, language, version);
  if (!runtime) throw new RequestError(`${language}-${version} runtime is unknown`);
  const isUtf8 = (f: Record<string, unknown>): boolean => !f.encoding || f.encoding === 'utf8';
  if (!fileObjs.some(isUtf8)) throw new RequestError('files must include at least one utf8 encoded file');

  const limits = limitsFor(config, runtime.language);
  for (const name of REQUEST_LIMITS) {
    const value = b[name];
    if (!value) continue;
    if (typeof value !== 'number') throw new RequestError(`If specified, ${name} must be a number`);
    const configured = limits[name];
    if (configured <= 0) continue;
    if (value > configured) throw new RequestError(`${name} cannot exceed the configured limit of ${configured}`);
    if (value < 0) throw new RequestError(`${name} must be non-negative`);
  }

  // ---- beyond Piston's checks: its defects answered as 400s naming the field (PISTON-API.md §12)
  const stdin = b.stdin ?? '';
  if (typeof stdin !== 'string') throw new RequestError('stdin must be a string');
  let args: string[];
  if (b.args === undefined || b.args === null) args = [];
  else if (typeof b.args === 'string') args = [...b.args]; // Piston spreads a string into characters
  else if (Array.isArray(b.args)) args = b.args.map((a: unknown) => (typeof a === 'string' ? a : JSON.stringify(a) ?? String(a)));
  else throw new RequestError('args must be an array of strings');

  const out: JobSpec['files'] = fileObjs.map((f, i) => {
    const raw = f.name ?? '';
    if (typeof raw !== 'string') throw new RequestError(`files[${i}].name must be a string`);
    const name = raw || `file${i}.code`;
    const norm = path.posix.normalize(name);
    if (name.includes('\0') || path.posix.isAbsolute(name) || norm === '..' || norm.startsWith('../') || norm === '.') {
      throw new RequestError(`files[${i}].name must be a relative path inside the job directory`);
    }
    return { name: norm, content: decode(f.content as string, f.encoding) };
  });
  const codeFiles = out.filter((_, i) => isUtf8(fileObjs[i] as Record<string, unknown>)).map((f) => f.name);

  const pick = (key: RequestLimit): number => (b[key] as number | undefined) || limits[key];
  return {
    runtime, files: out, codeFiles, args, stdin,
    compile: { timeout: pick('compile_timeout'), cpuTime: pick('compile_cpu_time'), memory: pick('compile_memory_limit') },
    run: { timeout: pick('run_timeout'), cpuTime: pick('run_cpu_time'), memory: pick('run_memory_limit') },
    limits,
  };
}

/**
 * The configuration: one declarative table of options (environment variable, default, meaning,
 * parser), read once by main.ts. Every bad value is reported at once, one line per variable.
 * The README's configuration table is this table.
 */
import * as p from './config-parsers.js';

interface Option<T> {
  /** environment variables, first one set wins (later names are aliases) */
  env: readonly string[];
  /** the value when no variable is set; `undefined` makes the option optional */
  default: T;
  /** one line for the README and for errors */
  doc: string;
  parse: p.Parser<T>;
  /** per-variable parser for aliases whose meaning differs (PISTON_DISABLE_NETWORKING) */
  parseFor?: Readonly<Record<string, p.Parser<T>>>;
}

function opt<T>(o: Option<T>): Option<T> {
  return o;
}

/** Every option CodeX reads from the environment, grouped by what uses it. */
export const OPTIONS = {
  // ------------------------------------------------------------ server
  host: opt({ env: ['HOST'], default: '127.0.0.1', doc: 'listen address', parse: p.str }),
  port: opt({ env: ['PORT'], default: 3000, doc: 'listen port (0: any free port)', parse: p.port }),
  dataDir: opt({ env: ['CODEX_DATA_DIR'], default: './data', doc: 'where rooms are stored (created on start)', parse: p.str }),
  logLevel: opt({
    env: ['CODEX_LOG_LEVEL'], default: 'info' as const, doc: 'log level',
    parse: p.oneOf('trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'),
  }),
  pistonUrls: opt<string[] | undefined>({
    env: ['PISTON_URL'], default: undefined,
    doc: 'base URL(s) of real Piston instances, comma-separated; unset: the embedded engine runs in-process',
    parse: p.urlList,
  }),
  trustProxy: opt({
    env: ['CODEX_TRUST_PROXY'], default: false,
    doc: 'behind one load balancer: take the client address for per-address limits from X-Forwarded-For', parse: p.bool,
  }),
  maxMessageBytes: opt({ env: ['CODEX_MAX_MESSAGE_BYTES'], default: 16 * 1024 ** 2, doc: 'largest WebSocket message a client may send', parse: p.bytes() }),
  maxDocBytes: opt({ env: ['CODEX_MAX_DOC_BYTES'], default: 8 * 1024 ** 2, doc: 'largest encoded size of a room document', parse: p.bytes() }),
  maxPeersPerRoom: opt({ env: ['CODEX_MAX_PEERS_PER_ROOM'], default: 500, doc: 'most connections to one room', parse: p.int(1) }),
  maxRoomsPerAddress: opt({ env: ['CODEX_MAX_ROOMS_PER_ADDRESS'], default: 50, doc: 'most rooms one client address may have open at once', parse: p.int(1) }),
  roomCreatesPerMinute: opt({ env: ['CODEX_ROOM_CREATES_PER_MINUTE'], default: 30, doc: 'rooms one client address may create per minute', parse: p.int(1) }),
  flushMs: opt({ env: ['CODEX_FLUSH_INTERVAL'], default: 50, doc: 'longest time an update waits before it is written to disk', parse: p.duration() }),
  roomUnloadMs: opt({ env: ['CODEX_ROOM_UNLOAD_DELAY'], default: 5000, doc: 'how long an empty room stays in memory', parse: p.duration() }),
  heartbeatMs: opt({ env: ['CODEX_HEARTBEAT_INTERVAL'], default: 10_000, doc: 'ping interval; a peer silent for two intervals is dropped', parse: p.duration() }),
  shutdownTimeoutMs: opt({ env: ['CODEX_SHUTDOWN_TIMEOUT'], default: 10_000, doc: 'deadline for a graceful shutdown', parse: p.duration() }),
  // ------------------------------------------------------------ shared execution
  execBufferBytes: opt({ env: ['CODEX_EXEC_BUFFER_BYTES'], default: 1024 ** 2, doc: 'frames of one run kept for replay to late joiners', parse: p.bytes() }),
  execMaxStdinBytes: opt({ env: ['CODEX_EXEC_MAX_STDIN_BYTES'], default: 64 * 1024, doc: 'largest stdin frame a participant may send', parse: p.bytes() }),
  execMaxFilesBytes: opt({ env: ['CODEX_EXEC_MAX_FILES_BYTES'], default: 1024 ** 2, doc: 'largest total size of the files sent to a run', parse: p.bytes() }),
  execRunsPerMinute: opt({ env: ['CODEX_EXEC_RUNS_PER_MINUTE'], default: 30, doc: 'runs one room may start per minute', parse: p.int(1) }),
  // ------------------------------------------------------------ embedded engine (Piston's names)
  runTimeout: opt({
    env: ['PISTON_RUN_TIMEOUT', 'PISTON_TIMEOUT'], default: 10_000,
    doc: 'run stage wall-time limit in ms (PISTON_TIMEOUT also takes 10s); -1: none', parse: p.duration({ allowUnlimited: true }),
  }),
  compileTimeout: opt({ env: ['PISTON_COMPILE_TIMEOUT'], default: 10_000, doc: 'compile stage wall-time limit in ms; -1: none', parse: p.duration({ allowUnlimited: true }) }),
  runCpuTime: opt({ env: ['PISTON_RUN_CPU_TIME'], default: 10_000, doc: 'run stage CPU-time limit in ms; -1: none', parse: p.duration({ allowUnlimited: true }) }),
  compileCpuTime: opt({ env: ['PISTON_COMPILE_CPU_TIME'], default: 10_000, doc: 'compile stage CPU-time limit in ms; -1: none', parse: p.duration({ allowUnlimited: true }) }),
  runMemoryLimit: opt({
    env: ['PISTON_RUN_MEMORY_LIMIT', 'PISTON_MEMORY_LIMIT'], default: 512 * 1024 ** 2,
    doc: 'run stage memory limit in bytes (512MiB also accepted); -1: none', parse: p.bytes({ allowUnlimited: true }),
  }),
  compileMemoryLimit: opt({ env: ['PISTON_COMPILE_MEMORY_LIMIT'], default: -1, doc: 'compile stage memory limit in bytes; -1: none', parse: p.bytes({ allowUnlimited: true }) }),
  outputMaxSize: opt({ env: ['PISTON_OUTPUT_MAX_SIZE'], default: 1024, doc: 'per-stream output cap of /execute, in bytes', parse: p.int(1) }),
  maxProcessCount: opt({ env: ['PISTON_MAX_PROCESS_COUNT'], default: 64, doc: 'processes per job', parse: p.int(1) }),
  maxOpenFiles: opt({ env: ['PISTON_MAX_OPEN_FILES'], default: 2048, doc: 'open files per process', parse: p.int(1) }),
  maxFileSize: opt({ env: ['PISTON_MAX_FILE_SIZE'], default: 10_000_000, doc: 'largest file a job may write, in bytes', parse: p.int(1) }),
  maxConcurrentJobs: opt({ env: ['PISTON_MAX_CONCURRENT_JOBS'], default: 64, doc: 'jobs running at once; more wait in a queue', parse: p.int(1) }),
  allowNet: opt({
    env: ['PISTON_ALLOW_NET', 'PISTON_DISABLE_NETWORKING'], default: false,
    doc: 'let jobs use the network (PISTON_DISABLE_NETWORKING=true is the opposite, as in Piston)', parse: p.bool,
    // Piston counts networking as disabled only for the exact string "true".
    parseFor: { PISTON_DISABLE_NETWORKING: (raw: string) => raw !== 'true' },
  }),
  limitOverrides: opt({ env: ['PISTON_LIMIT_OVERRIDES'], default: {}, doc: 'per-language limits, JSON {"<language>":{"<limit>":n}}', parse: p.jsonObject }),
  unsafeNoSandbox: opt({
    env: ['CODEX_UNSAFE_NO_SANDBOX'], default: false,
    doc: 'DEVELOPMENT ONLY: run code without bubblewrap when no sandbox can be had (logged loudly)', parse: p.bool,
  }),
  engineBindAddress: opt<string | undefined>({
    env: ['PISTON_BIND_ADDRESS'], default: undefined, doc: 'host:port of `npm run engine` (default 127.0.0.1:2000, or HOST and PORT)', parse: p.str,
  }),
  // ------------------------------------------------------------ scale-out
  redisUrl: opt<string | undefined>({ env: ['CODEX_REDIS_URL'], default: undefined, doc: 'Redis for rooms shared across instances', parse: p.urlWithScheme('redis', 'rediss') }),
  databaseUrl: opt<string | undefined>({ env: ['CODEX_DATABASE_URL'], default: undefined, doc: 'PostgreSQL for shared storage', parse: p.urlWithScheme('postgres', 'postgresql') }),
} as const;

type Options = typeof OPTIONS;
/** The parsed, frozen configuration. */
export type Config = { readonly [K in keyof Options]: Options[K] extends Option<infer T> ? T : never };

/** Thrown by loadConfig with one line per bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

/** Reads every option from `env`; throws ConfigError listing every bad value. */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Config {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, option] of Object.entries(OPTIONS) as [string, Option<unknown>][]) {
    const name = option.env.find((n) => env[n] !== undefined && env[n] !== '');
    if (name === undefined) {
      out[key] = option.default;
      continue;
    }
    const raw = env[name] as string;
    try {
      out[key] = (option.parseFor?.[name] ?? option.parse)(raw);
    } catch (err) {
      problems.push(`${name}=${JSON.stringify(raw)} is not valid: expected ${(err as Error).message}`);
    }
  }
  // Shared rooms load and store through one PostgreSQL; over per-instance SQLite files they would diverge.
  if (out.redisUrl !== undefined && out.databaseUrl === undefined) {
    problems.push('CODEX_REDIS_URL is set but CODEX_DATABASE_URL is not: instances sharing rooms need one shared PostgreSQL');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(out) as Config;
}

/** A full configuration with defaults, overridden by `overrides` (for tests and embedding). */
export function configWith(overrides: Partial<Config> = {}): Config {
  return Object.freeze({ ...loadConfig({}), ...overrides });
}

/**
 * Piston's wire, typed once (PISTON-API.md §3, §4, §6): imported by the Piston client and by the
 * embedded engine's API, so both ends of `/api/v2/connect` and `/api/v2/execute` agree by construction.
 */

/** A file of an execute request or `init` frame. */
export interface PistonFile {
  name?: string;
  content: string;
  encoding?: 'utf8' | 'base64' | 'hex';
}

/** The fields shared by `POST /api/v2/execute` and the WebSocket `init` frame. */
export interface JobRequest {
  language: string;
  version: string;
  files: PistonFile[];
  args?: string[];
  /** HTTP only; ignored by `/connect` */
  stdin?: string;
  run_timeout?: number;
  compile_timeout?: number;
  run_cpu_time?: number;
  compile_cpu_time?: number;
  run_memory_limit?: number;
  compile_memory_limit?: number;
}

/** One entry of `GET /api/v2/runtimes`. */
export interface PistonRuntime {
  language: string;
  version: string;
  aliases: string[];
  /** the package name, present only for packages that `provide` several languages */
  runtime?: string;
}

/** Piston's result statuses (newest era): runtime error, signal, timeout, sandbox error, stdout/stderr over the limit. */
export type StageStatus = 'RE' | 'SG' | 'TO' | 'XX' | 'OL' | 'EL';

/** The result of one stage over HTTP (newest era's superset of the pre-isolate shape). */
export interface StageResult {
  stdout: string;
  stderr: string;
  output: string;
  code: number | null;
  signal: string | null;
  message?: string | null;
  status?: StageStatus | null;
  cpu_time?: number;
  wall_time?: number;
  memory?: number | null;
}

/** `POST /api/v2/execute` answer (200). */
export interface ExecuteResponse {
  language: string;
  version: string;
  compile?: StageResult;
  run: StageResult;
}

/** Piston's error bodies: `{"message": "…"}` for 4xx. */
export interface PistonErrorBody {
  message: string;
}

/** The two stages of a job. */
export type Stage = 'compile' | 'run';

// ------------------------------------------------------------ /api/v2/connect, client → Piston

/** Starts the job; validated like an execute request (stdin ignored). */
export interface InitFrame extends JobRequest {
  type: 'init';
}
/** Input for the running stage. Piston accepts only `stdin`. */
export interface StdinFrame {
  type: 'data';
  stream: string;
  data: string;
}
/** Deliver a signal to the job (a no-op in every real Piston; the embedded engine honours it). */
export interface SignalFrame {
  type: 'signal';
  signal: string;
}
/** Every frame a Piston client sends. */
export type PistonClientFrame = InitFrame | StdinFrame | SignalFrame;

// ------------------------------------------------------------ /api/v2/connect, Piston → client

/** The resolved runtime, sent once the job has a slot and its files are written. */
export interface RuntimeMsg {
  type: 'runtime';
  language: string;
  version: string;
}
/** A stage begins. */
export interface StageMsg {
  type: 'stage';
  stage: Stage;
}
/** Output of the running stage, one frame per pipe chunk. */
export interface OutputMsg {
  type: 'data';
  stream: 'stdout' | 'stderr';
  data: string;
}
/** A stage ended. `error` appears only on spawn failure. */
export interface ExitMsg {
  type: 'exit';
  stage: Stage;
  code: number | null;
  signal: string | null;
  error?: string;
}
/** A fatal error; the socket is then closed with 4002. */
export interface ErrorMsg {
  type: 'error';
  message: string;
}
/** Every frame Piston sends. */
export type PistonServerFrame = RuntimeMsg | StageMsg | OutputMsg | ExitMsg | ErrorMsg;

/** Piston's close codes and reasons, exactly as sent (PISTON-API.md §6). */
export const PISTON_CLOSE = {
  jobCompleted: { code: 4999, reason: 'Job Completed' },
  alreadyInitialized: { code: 4000, reason: 'Already Initialized' },
  initTimeout: { code: 4001, reason: 'Initialization Timeout' },
  notifiedError: { code: 4002, reason: 'Notified Error' },
  notInitialized: { code: 4003, reason: 'Not yet initialized' },
  onlyStdin: { code: 4004, reason: 'Can only write to stdin' },
  invalidSignal: { code: 4005, reason: 'Invalid signal' },
} as const satisfies Record<string, { code: number; reason: string }>;

/** How long Piston waits for `init` after connect. */
export const PISTON_INIT_TIMEOUT_MS = 1000;

/**
 * Signal names a `signal` frame may carry: the recording Piston's list (pre-isolate `api/src/api/v2.js`,
 * 38 names, BSD/legacy names included; fixture `ws-error-invalid-signal`). Anything else closes with 4005.
 */
export const PISTON_SIGNALS: readonly string[] = [
  'SIGABRT', 'SIGALRM', 'SIGBUS', 'SIGCHLD', 'SIGCLD', 'SIGCONT', 'SIGEMT', 'SIGFPE', 'SIGHUP', 'SIGILL', 'SIGINFO',
  'SIGINT', 'SIGIO', 'SIGIOT', 'SIGKILL', 'SIGLOST', 'SIGPIPE', 'SIGPOLL', 'SIGPROF', 'SIGPWR', 'SIGQUIT', 'SIGSEGV',
  'SIGSTKFLT', 'SIGSTOP', 'SIGTSTP', 'SIGSYS', 'SIGTERM', 'SIGTRAP', 'SIGTTIN', 'SIGTTOU', 'SIGUNUSED', 'SIGURG',
  'SIGUSR1', 'SIGUSR2', 'SIGVTALRM', 'SIGXCPU', 'SIGXFSZ', 'SIGWINCH',
];

/**
 * The execution engine as the exec channel and the HTTP API see it: Piston's API behind one
 * interface. The only implementation is the Piston client pool (piston/piston-pool.ts), used for
 * the embedded engine (served on loopback) and for real `PISTON_URL` instances alike, so the code
 * that talks to a real Piston is the code the tests run.
 */
import type { JobRequest, PistonRuntime, PistonServerFrame } from './piston/protocol.js';

/** How an interactive job ended, as far as the engine connection can tell. */
export type JobEnd =
  /** Piston closed with 4999 "Job Completed" */
  | { kind: 'completed' }
  /** stopped by a participant: the socket was closed after the grace period (a real Piston ignores signals) */
  | { kind: 'stopped'; signal: string }
  /** anything else: unreachable, refused (4002 and its message), timed out, closed mid-run */
  | { kind: 'failed'; message: string };

/** Callbacks of one interactive job; `onEnd` is called exactly once, last. */
export interface JobHandlers {
  onFrame(frame: PistonServerFrame): void;
  onEnd(end: JobEnd): void;
}

/** One running interactive job (`/api/v2/connect`). */
export interface EngineJob {
  /** which engine instance runs it (its base URL) */
  readonly instance: string;
  /** input for the program; held until Piston's `stage: run`, then written raw */
  stdin(data: string): void;
  /** asks the program to stop; the job ends within a short grace period whatever the engine does */
  stop(signal: string): void;
  /** drops the job now (shutdown); `onEnd` reports a failure with `reason` */
  abort(reason: string): void;
}

/** An HTTP answer relayed as is. */
export interface RelayedResponse {
  status: number;
  body: unknown;
}

/** The state of one engine instance, for `/readyz`. */
export interface InstanceStatus {
  url: string;
  /** null when it answers with at least one runtime */
  problem: string | null;
  activeJobs: number;
}

/** What the server needs from an execution engine. */
export interface ExecEngine {
  /** opens an interactive job on the least busy healthy instance */
  connect(request: JobRequest, handlers: JobHandlers): EngineJob;
  /** the runtimes list (`GET /api/v2/runtimes`) of an instance that answers */
  runtimes(): Promise<PistonRuntime[]>;
  /** forwards a `POST /api/v2/execute` body (already JSON-parsed) and relays the answer as is */
  execute(body: unknown): Promise<RelayedResponse>;
  /** probes every instance */
  status(): Promise<InstanceStatus[]>;
  /** closes every open job; idempotent */
  close(): void;
}

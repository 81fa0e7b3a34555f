/**
 * What the door (./worker-host.ts) takes, and what it tells its executor: the contract between
 * the executors of this folder and `WorkerHost`, the one file here that knows the pool library.
 */
import type { ChildProcess } from 'node:child_process';
import type { ParentMessage } from '../wire/messages.js';

export interface WorkerHostOptions {
  readonly size: number;
  /** Workers that may live beyond `size`: a spare, once one has died (workaround 15 for children). */
  readonly extra?: number;
  readonly runtime: 'thread' | 'process';
  /** ms an idle worker lives (`Infinity`: keep `size` workers); `undefined`: never stopped here. */
  readonly idleTimeout: number | undefined;
  readonly maxHeapMb: number | undefined;
  /** The workers' environment; `undefined`: this process's (workaround 8). */
  readonly env: Readonly<Record<string, string>> | undefined;
  /** Given to every worker (src/worker/host.ts reads it). */
  readonly workerData: unknown;
}

/** What the host tells its executor. */
export interface WorkerHostEvents {
  /** A thread worker exited, for `reason` (what stopped it, its last error, or its exit code). */
  exited(threadId: number, reason: Error): void;
  /** Process runtime: the task `taskId` was handed to the child process `child`. */
  sent(taskId: number, child: ChildProcess): void;
  /**
   * A worker died before it was ready (workaround 13): `error` says why; `anyReady`: whether some
   * worker is ready now; `threadId`: the thread's (its executor knows if it was ready after all).
   */
  startFailed(error: Error, anyReady: boolean, threadId?: number): void;
  /**
   * Process runtime: the task `taskId` could not be passed to its child (`error`, what was thrown).
   * Returns whether the task is the executor's (then it is answered in the child's place).
   */
  unsent(taskId: number, error: unknown): boolean;
  /** Process runtime: a message of rxpool's own from a child (workaround 9). */
  heard?(message: ParentMessage): void;
}

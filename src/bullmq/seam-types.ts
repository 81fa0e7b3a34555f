/**
 * TEMPORARY: the executor seam's public types, copied verbatim from the design of issue 12
 * (SEAM.md; branch feat/seam, `src/executor/contract.ts`). Once feat/seam lands, this file is
 * deleted and its importers import these types from the pool's contract instead
 * (`../executor/contract.js`). Do not edit it apart from that swap.
 */
import type { Transferable } from '../types.js';

/** What runs: a module export by reference, or an inline function's source text (serializable). */
export type WorkSpec =
  | { readonly kind: 'module'; readonly url: string; readonly name: string }
  | { readonly kind: 'inline'; readonly source: string };

/** What the engine plans with; fixed for an executor's life. */
export interface ExecutorTraits {
  /** The run time a batch should aim for, in ms: 8 on threads, ~200 for a remote executor. */
  readonly targetBatchMs: number;
  /** The largest batch in bytes, when the executor has a limit (a job in Redis). An executor that
   *  cannot take a whole batch runs the first items and reports `done` with a smaller `count`:
   *  the rest go again. */
  readonly maxBatchBytes?: number;
  /** The executor enforces per-item timeouts itself (the batch carries `timeout`) and reports a
   *  timed-out item as a failure of kind 'timeout'; otherwise the engine times items through
   *  `RunningBatch.current()` and aborts. */
  readonly enforcesTimeouts: boolean;
  /** `RunningBatch.current()` knows which item of a batch runs (timeouts inside batches). */
  readonly knowsPosition: boolean;
}

/** One batch: consecutive items of one stream, all of the same work. */
export interface ExecutorBatch {
  readonly work: WorkSpec;
  readonly inputs: readonly unknown[];
  readonly transferList: readonly Transferable[] | undefined;
  /** Per attempt of an item, in ms (only when `enforcesTimeouts`; the engine times otherwise). */
  readonly timeout: number | undefined;
  /** What the engine expects the batch to take, in ms, when it has measured the stream. */
  readonly expectedMs: number | undefined;
  /** A stable id of the stream (for a remote executor's cancel channel). */
  readonly stream: string;
}

/** How an item failed: the engine charges the right attempt whatever the executor. */
export interface ItemFailure {
  readonly error: Error;
  readonly kind: 'threw' | 'timeout' | 'crashed';
  /** false: trying again cannot help (a result that cannot be cloned, a failed setup). */
  readonly retryable: boolean;
  readonly hint?: string;
}

export type BatchOutcome =
  | {
      type: 'done';
      values: ArrayLike<unknown>;
      failures: readonly (ItemFailure | undefined)[] | null;
      count: number;
      ms: number;
      waitedMs?: number;
    } // durations only: no remote clock readings
  | { type: 'crashed'; error: Error; position: number | undefined }
  | { type: 'unsendable'; blamed: ReadonlyMap<number, Error> | undefined }
  | { type: 'aborted' }
  | { type: 'lost' };

export interface RunningBatch {
  /** The item running now and how long it has run (ms), when `knowsPosition`. */
  current?(): { position: number; elapsedMs: number } | undefined;
  /**
   * Stop the batch; its outcome still comes (once), 'aborted' (or 'done' with `count` < items when
   * it stopped between items: the rest go again). `'timeout'`: the item running is overdue, stop
   * it now (the thread executor stops its worker at once). `'cancel'` (unsubscribe, break, signal):
   * no item of it may start any more; the item running may end on its own if it does so promptly
   * (the thread executor sets the batch's cancel cell, which the worker reads between items, and
   * stops the worker only if no answer comes within a short grace, a few ms): a `break` out of a
   * stream of short items then stops nothing but the batch, and no worker is replaced.
   */
  abort(reason: 'cancel' | 'timeout'): void;
}

export interface Executor {
  /** Workers (or their equivalent): `pool.stats().size`, and how many batches are out at once
   *  when `capacity` is not given. */
  readonly size: number;
  readonly traits: ExecutorTraits;
  /** Batches that may be out now (may change: call the listener given to `onCapacity`). */
  capacity(): number;
  /** Starts a batch; calls `report` exactly once, never synchronously. */
  run(batch: ExecutorBatch, report: (outcome: BatchOutcome) => void): RunningBatch;
  /** The pool listens: capacity grew for a reason other than a batch ending. */
  onCapacity?(listener: () => void): void;
  /** Extra counters for stats: workers busy now, items sent and not started. */
  stats?(): { busy?: number; queued?: number };
  /** No new batches will come: finish those out, release everything. */
  close(): Promise<void>;
  /** Stop now: batches out are reported 'aborted'. */
  destroy(): Promise<void>;
}

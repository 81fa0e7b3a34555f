/**
 * The executor contract: what runs the engine's batches. The thread pool executor (`src/threads/`)
 * is the default; `createPool({ executor })` takes any object that implements {@link Executor}.
 * The engine never talks to an executor directly: a {@link Dispatcher} stands between them, and
 * gives the streams that share one executor fair turns.
 *
 * Everything here is a type: an executor inherits nothing.
 */
import type { TransferListItem } from '../types.js';
import type { ItemSpan, TraceCarrier, WorkSpec } from '../wire/work.js';

export type { ItemSpan, TraceCarrier, WorkSpec } from '../wire/work.js';

/** What the engine plans with; fixed for an executor's life. */
export interface ExecutorTraits {
  /** The run time a batch should aim for, in ms: 8 on threads, ~200 for a remote executor. */
  readonly targetBatchMs: number;
  /**
   * The executor enforces per-item timeouts itself (the batch carries `timeout`) and reports a
   * timed-out item as a failure of kind 'timeout'; otherwise the engine times items through
   * `RunningBatch.current()` and aborts.
   */
  readonly enforcesTimeouts: boolean;
  /** `RunningBatch.current()` knows which item of a batch runs (timeouts inside batches). */
  readonly knowsPosition: boolean;
  /**
   * The `concurrency` of a stream that sets none, when this executor needs another than
   * `DEFAULT_CONCURRENCY` to keep its batches full: a batch is at most an even share of the
   * window among `capacity()` batches, so an executor whose batches cost a fixed few ms each (a
   * job in Redis) wants a wider window for small items.
   */
  readonly concurrency?: number;
  /**
   * The executor runs flat batches ({@link ExecutorBatch.flat}): it reports each item's values
   * through `run`'s `values` listener while the item runs, and takes credit through
   * {@link RunningBatch.grant}. The flat faces (`parallelFlatMap`, `pool.imapFlat`) refuse to run
   * on an executor without it, with an error that says so.
   */
  readonly streams?: boolean;
}

/**
 * A flat batch: the work returns many values per item (an array, an iterable, an Observable),
 * which come back while the item runs, under credit.
 */
export interface FlatBatch {
  /**
   * The values of an item that may be sent before any credit is granted: the executor pulls no
   * more of the item's values while `highWaterMark` + granted - sent is 0 (an Observable, which
   * cannot be paused, has its values wait where it runs).
   */
  readonly highWaterMark: number;
}

/** One batch: consecutive items of one stream, all of the same work. */
export interface ExecutorBatch {
  /** What to run on every input. */
  readonly work: WorkSpec;
  /** The items, in source order; results and failures come back by position in this array. */
  readonly inputs: readonly unknown[];
  /**
   * Where the inputs come from, in order: runs of items consecutive in the source, on the same
   * attempt (their counts add up to the number of inputs). An executor passes them on to what
   * runs the items, for each task's `context.index` and `context.attempt`.
   */
  readonly spans: readonly ItemSpan[];
  /** Buffers of the inputs to move rather than copy (the `transfer` option), if any. */
  readonly transferList: readonly TransferListItem[] | undefined;
  /**
   * Per attempt of an item, in ms, when the items have one. An executor that `enforcesTimeouts`
   * enforces it; for another the engine times the items, and it only says that they are timed
   * (the thread executor then records when each item starts, for `current()`).
   */
  readonly timeout: number | undefined;
  /** What the engine expects the batch to take, in ms, when it has measured the stream. */
  readonly expectedMs: number | undefined;
  /**
   * The trace context of item `i` at `traces[i]` (items with the same context share one object);
   * `undefined` when no item has one (no OpenTelemetry span was active where they were pushed).
   * An executor passes it on with the items (see {@link TraceCarrier}); one that ignores it only
   * loses the link between its tasks' spans and the caller's.
   */
  readonly traces?: readonly (TraceCarrier | undefined)[] | undefined;
  /**
   * A stable id of the stream, unique among the streams of this executor's pool only (a remote
   * executor whose workers serve other producers too qualifies it before it names it to them).
   */
  readonly stream: string;
  /**
   * Set for a flat batch (`parallelFlatMap`): each item's values go to `run`'s `values` listener
   * as they come, under credit; the outcome's `values` are then not read. Only sent to an
   * executor whose `traits.streams` is true.
   */
  readonly flat?: FlatBatch;
}

/**
 * Where a flat batch's values go, as they come: `values` of the item at `position`, in the order
 * the item gave them (every value counts against the item's credit); `end` once the item is over,
 * with its failure if it failed (the values before it count). The items of a batch run one after
 * the other; each item's `end` comes before any value of the next, and before the batch's outcome,
 * which then only says what became of the items that did not end (not run, or stopped).
 */
export type ValuesListener = (position: number, values: ArrayLike<unknown>, end?: FlatEnd) => void;

/** A flat item is over. */
export interface FlatEnd {
  /** How it failed, when it did. */
  readonly failure?: ItemFailure | undefined;
}

/** How an item failed: the engine charges the right attempt whatever the executor. */
export interface ItemFailure {
  /** What the task threw (or why the item could not run), revived on this side. */
  readonly error: Error;
  /**
   * `'threw'`: the work threw (a `TaskError`); `'timeout'`: it ran past the batch's `timeout` (a
   * `TaskTimeoutError`); `'crashed'`: it took its worker down (a `WorkerCrashedError`).
   */
  readonly kind: 'threw' | 'timeout' | 'crashed';
  /** false: trying again cannot help (a result that cannot be cloned, a failed setup). */
  readonly retryable: boolean;
  /** A line to add to the item's `TaskError` message (what to do about it). */
  readonly hint?: string;
}

/** How a batch ended. Durations only: another machine's clock is never compared with this one's. */
export type BatchOutcome =
  /** The first `count` items ran (the rest did not, and go again). */
  | {
      /** The batch ran, in whole or in part. */
      readonly type: 'done';
      /** The result of item `i` at `values[i]` (for the items that succeeded). */
      readonly values: ArrayLike<unknown>;
      /** The failure of item `i` at `failures[i]`; `null` when none failed. */
      readonly failures: readonly (ItemFailure | undefined)[] | null;
      /** How many items ran, from the first: the rest go again. */
      readonly count: number;
      /** How long the items took to run, in ms (for batch sizing and `stats().runTime`). */
      readonly ms: number;
      /** How long the batch waited in the executor before it started, in ms, when known. */
      readonly waitedMs?: number;
      /**
       * The batch answered an `abort('timeout')`: it stopped after the item running then (its
       * task settled within the grace), and that item fails as timed out whatever it gave.
       */
      readonly stopped?: boolean;
      /**
       * Which worker ran it, when known (`threadId`, a process's `pid`, a remote worker's
       * `<hostname>:<pid>`): the `workerId` of the `rxpool:item` trace events.
       */
      readonly workerId?: number | string;
    }
  /** The worker died. `position` is the item it died under, when known. */
  | {
      /** The worker died under the batch. */
      readonly type: 'crashed';
      /** Why, as well as it is known (an exit code, an out-of-memory error). */
      readonly error: Error;
      /** The position of the item it died under, when known. */
      readonly position: number | undefined;
    }
  /** The batch could not be sent. `blamed`: the items at fault and why, when known. */
  | {
      /** The batch could not be sent. */
      readonly type: 'unsendable';
      /** The positions of the items at fault and why, when known (the others go again). */
      readonly blamed: ReadonlyMap<number, Error> | undefined;
    }
  /** Stopped by `abort()`: all go again (or fail, the one that timed out). */
  | {
      /** Stopped by `abort()`. */
      readonly type: 'aborted';
    }
  /** Lost without running (its worker was retired): all go again. */
  | {
      /** Lost without running. */
      readonly type: 'lost';
    };

/** A batch that was started: its outcome goes to the `report` given to `Executor.run`, once. */
export interface RunningBatch {
  /** The item running now and how long it has run (ms), when `knowsPosition`. */
  current?():
    | {
        /** The item's position in the batch. */
        position: number;
        /** How long it has run, in ms, measured by the executor. */
        elapsedMs: number;
      }
    | undefined;
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
  /**
   * Flat batches: the item at `position` may send `count` more values (the engine emitted that
   * many of those it sent). Required of an executor whose `traits.streams` is true.
   */
  grant?(position: number, count: number): void;
}

/**
 * What runs batches of items: worker threads (the default), processes, machines.
 *
 * _Implement it to run rxpool's operators and Pool on anything that can run a function._
 *
 * See the README's "Custom executors" for a small one that runs every operator.
 */
export interface Executor {
  /**
   * Workers (or their equivalent): `pool.stats().size`, and how many batches are out at once
   * when `capacity` is not given.
   */
  readonly size: number;
  /** What the engine plans with (batch time, who times items, the default window, streaming). */
  readonly traits: ExecutorTraits;
  /** Batches that may be out now (may change: call the listener given to `onCapacity`). */
  capacity(): number;
  /**
   * Starts a batch; calls `report` exactly once, never synchronously. A flat batch's values go to
   * `values` before its outcome is reported (never after, never synchronously).
   */
  run(
    batch: ExecutorBatch,
    report: (outcome: BatchOutcome) => void,
    values?: ValuesListener,
  ): RunningBatch;
  /** The pool listens: capacity grew for a reason other than a batch ending. */
  onCapacity?(listener: () => void): void;
  /** Extra counters for stats: workers busy now, items sent and not started. */
  stats?(): {
    /** Workers running a batch now. */
    busy?: number;
    /** Items sent to the executor and not started yet. */
    queued?: number;
  };
  /** No new batches will come: finish those out, release everything. */
  close(): Promise<void>;
  /** Stop now: batches out are reported 'aborted'. */
  destroy(): Promise<void>;
}

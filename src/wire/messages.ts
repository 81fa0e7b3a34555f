/**
 * The messages between the main side and the worker-side runtime, in one place.
 *
 * The worker side (src/worker/) imports the wire (src/wire/) alone: it never loads main-side
 * code. Keep this file free of runtime imports.
 */

import type { MessagePort } from 'node:worker_threads';

import type { FlatPayload } from './flat-pack.js';
import type { ItemSpan, TraceCarrier, WorkSpec } from './work.js';

/** One message to a worker: several items of the same work. */
export interface BatchRequest {
  /** The batch's number, which its reply and an abort of it carry. */
  readonly id: number;
  readonly work: WorkSpec;
  /** Where the items come from in their source, for each task's `context` (`index`, `attempt`). */
  readonly spans: readonly ItemSpan[] | undefined;
  /** The items; a batch of numbers only travels packed in a typed array (see `packNumbers`). */
  readonly inputs: readonly unknown[] | Packed;
  /** Run once in each worker before its first item. */
  readonly setup: WorkSpec | undefined;
  /** The worker retires after this many items (`maxTasksPerWorker`); 0 for never. */
  readonly maxItems: number;
  /** Run in the worker, with its state, before it stops (the pool's `teardown`). */
  readonly teardown: WorkSpec | undefined;
  /** The worker retires after a batch that leaves its heap above this many bytes; 0 for never. */
  readonly maxHeapBytes: number;
  /** The batch's cells in a shared {@link ControlBlock} (thread runtime). */
  readonly control: ControlRef | undefined;
  /**
   * The items have a timeout: record when each one starts. Otherwise only the batch's start is
   * recorded (a clock read per item is a good part of a trivial item's cost).
   */
  readonly timed: boolean;
  /**
   * Results may come back as JSON text ({@link BatchResponse.json}) when that gives back exactly
   * what structured clone would (src/wire/exact-json.ts).
   */
  readonly jsonResults: boolean;
  /**
   * The caller's trace context of item `i` at `traces[i]`, which the worker makes active while
   * the item runs (src/wire/trace-context.ts); absent when no item has one.
   */
  readonly traces?: readonly (TraceCarrier | undefined)[] | undefined;
  /** A flat batch: each item's values are streamed back under credit (see {@link FlatValues}). */
  readonly flat?: FlatRequest;
}

/** What a worker needs to stream a flat batch's values. */
export interface FlatRequest {
  /** Names the batch in {@link FlatValues} and {@link FlatControl} (unique in its executor). */
  readonly key: number;
  /** Values of an item that may be sent before any credit comes back. */
  readonly highWaterMark: number;
}

/**
 * Values of a flat batch's item, from the worker, while it runs (before the batch's reply). A
 * gathered run of them: up to a count, or what came in a few ms.
 */
export interface FlatValues extends FlatPart {
  readonly flatKey: number;
  /**
   * Items of the batch that ended before this one, with their last values, in order: their ends
   * wait for the next message (a few ms at most, or a count of values), a message each costing the
   * worker more than many values.
   */
  readonly before?: readonly FlatPart[];
}

/** One item's values in a {@link FlatValues}, and maybe its end. */
export interface FlatPart {
  /** The item's position in its batch. */
  readonly position: number;
  /** The values: by structured clone, or packed (src/wire/flat-pack.ts: `unpackValues` reads them). */
  readonly values: FlatPayload;
  /** The item is over (after these values): the next message is the next item's, or the reply. */
  readonly end?: true;
  /** With `end`: how the item failed. */
  readonly failure?: WireError;
}

/** To the worker, about a flat batch: more credit for its item, or stop (cancelled). */
export interface FlatControl {
  readonly flatKey: number;
  /** The item at `position` may send this many more values. */
  readonly grant?: number;
  readonly position?: number;
  /** Cancelled: `return()` the item's iterator and answer. */
  readonly stop?: true;
}

/** Whether a message on a link or a child's channel is a flat batch's. */
export function isFlatMessage(message: unknown): message is FlatValues | FlatControl {
  return typeof message === 'object' && message !== null && 'flatKey' in (message as object);
}

/**
 * The task of the worker host that gives a thread worker its link: a `MessagePort` on which it takes batches
 * for the rest of its life. A worker that has one already just answers. Either way it answers
 * with a {@link HelloReply} on `hello`, and the task settles when the main side sends a
 * {@link Release} there: holding the task until every worker has answered is how each worker gets
 * one (the host gives a task to a worker that holds none).
 */
export interface Hello {
  readonly hello: MessagePort;
}

export interface HelloReply {
  readonly threadId: number;
  /** The worker took this port as its link (it had none). */
  readonly adopted: boolean;
}

export interface Release {
  readonly release: true;
}

/** A batch on a link. */
export type LinkBatch = BatchRequest;

/** `pool.broadcast` on a thread's link: run `work` once, after the batches it holds. */
export interface LinkBroadcast {
  readonly broadcastNow: Broadcast['broadcast'];
}

/** Run the teardown now: the worker is about to be stopped (thread runtime, on the link). */
export interface TearDown {
  readonly tearDownNow: true;
}

/** The worker's answer to a {@link TearDown}: done, and why it failed if it did. */
export interface TornDown {
  readonly tornDown: true;
  readonly error: WireError | undefined;
}

/** Stop a batch (it is the one running, or comes later): its tasks' `signal` fires. */
export interface Abort {
  readonly abort: number;
  readonly reason: 'cancel' | 'timeout';
}

/**
 * A task of the worker host that runs `work` once on the child process that takes it
 * (`pool.broadcast`, process runtime). It answers with a {@link BroadcastReply} on tinypool's IPC
 * channel, and settles when the main side releases it: held until every worker has answered, each
 * of the pool's workers takes one. (Thread workers take a {@link LinkBroadcast} on their link.)
 */
export interface Broadcast {
  readonly broadcast: {
    readonly id: number;
    readonly work: WorkSpec;
    readonly input: unknown;
    readonly setup: WorkSpec | undefined;
    readonly teardown: WorkSpec | undefined;
  };
}

export interface BroadcastReply {
  readonly broadcast: number;
  readonly workerId: number;
  /** What `work` returned (awaited); absent when it failed. */
  readonly value?: unknown;
  readonly error?: WireError;
}

/** A message of rxpool's own to a child process, on tinypool's IPC channel. */
export type ChildMessage =
  | ({ readonly __rxpool__: 'abort' } & Abort)
  | { readonly __rxpool__: 'release'; readonly broadcast: number };

/** A message of rxpool's own from a child process, on tinypool's IPC channel. */
export type ParentMessage =
  | { readonly __rxpool__: 'listening' }
  | { readonly __rxpool__: 'tornDown'; readonly error: WireError }
  | ({ readonly __rxpool__: 'broadcast' } & BroadcastReply);

/** The worker's answer to a {@link LinkBatch}: its reply, or why the reply could not be sent. */
export type LinkReply =
  | { readonly id: number; readonly response: BatchResponse }
  | { readonly id: number; readonly broken: WireError };

/**
 * Where a batch's control cells are: row `row` of the block every worker got at start (in
 * `workerData`), or of `buffer`, a block of one row sent with the batch when all shared rows are
 * taken. Sending a `SharedArrayBuffer` with every batch costs tens of microseconds and feeds the
 * garbage collector; a row number costs nothing.
 */
export interface ControlRef {
  readonly row: number;
  readonly buffer?: SharedArrayBuffer;
}

/**
 * What a child process's worker side sends, outside the worker host's messages, when it calls
 * `process.exit` (from its `exit` listener, before any of the task's own): the main side then
 * knows the child went on its own, however long it takes to go.
 */
export interface ExitNotice {
  readonly rxpoolExit: number;
}

/** Flag cells (32-bit) a row: thread, cancel, awaiting, calling, exit code. */
const F = 5;

/**
 * Shared cells that both sides read and write while a batch runs, seven per row (one row a batch):
 * - the index in `inputs` of the item running now (`inputs.length` once all ran), and when it
 *   started (when the batch started, unless the request is `timed`), in ms since the epoch
 *   (`performance.timeOrigin + performance.now()`), 0 before;
 * - the `threadId` of the worker that took the batch, 0 before (stored before it reads the
 *   cancel flag), and the cancel flag, 1 once the main side cancelled the batch (stored before it
 *   reads the thread). With both sides storing before they load, at least one sees the other:
 *   either the worker skips the batch, or the main side knows which worker to stop;
 * - 1 while the item running awaits the promise its task returned: the worker's event loop is
 *   free, so an abort message reaches its task's `signal`; and (a `timed` batch only) 1 while a
 *   task's function is being called: a task that runs synchronously cannot hear an abort, and is
 *   stopped with its worker when it runs past its timeout;
 * - the exit code + 1 of a worker that called `process.exit` while it held the batch (stored from
 *   its first `exit` listener, which a `terminate` from the main side never runs), 0 before: a
 *   worker that went on its own is a crash, even when its exit is seen after a timeout was due.
 */
export class ControlBlock {
  private readonly timing: Float64Array;
  private readonly flags: Int32Array;

  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly rows: number,
  ) {
    this.timing = new Float64Array(buffer, 0, 2 * rows);
    this.flags = new Int32Array(buffer, 16 * rows, F * rows);
  }

  static create(rows: number): ControlBlock {
    return new ControlBlock(new SharedArrayBuffer((16 + 4 * F) * rows), rows);
  }

  position(row: number): number {
    return this.timing[2 * row]!;
  }

  /** When the item running now started; 0 before the first. */
  startedAt(row: number): number {
    return this.timing[2 * row + 1]!;
  }

  running(row: number, position: number, at: number): void {
    this.timing[2 * row + 1] = at;
    this.timing[2 * row] = position;
  }

  /** The item at `position` runs now (`inputs.length`: all ran). */
  moveTo(row: number, position: number): void {
    this.timing[2 * row] = position;
  }

  thread(row: number): number {
    return Atomics.load(this.flags, F * row);
  }

  took(row: number, threadId: number): void {
    Atomics.store(this.flags, F * row, threadId);
  }

  cancelled(row: number): boolean {
    return Atomics.load(this.flags, F * row + 1) === 1;
  }

  cancel(row: number): void {
    Atomics.store(this.flags, F * row + 1, 1);
  }

  /** Whether the item running awaits its task's promise (an abort message can reach it). */
  awaiting(row: number): boolean {
    return Atomics.load(this.flags, F * row + 2) === 1;
  }

  setAwaiting(row: number, awaiting: boolean): void {
    Atomics.store(this.flags, F * row + 2, awaiting ? 1 : 0);
  }

  /** Whether a task's function is being called now (a `timed` batch; else always `false`). */
  calling(row: number): boolean {
    return Atomics.load(this.flags, F * row + 3) === 1;
  }

  /** Per item of a timed batch: a plain store (the main side reads it when a timeout fires). */
  setCalling(row: number, calling: 0 | 1): void {
    this.flags[F * row + 3] = calling;
  }

  /** The code its worker called `process.exit` with while it held the batch, if it did. */
  exitCode(row: number): number | undefined {
    const cell = Atomics.load(this.flags, F * row + 4);
    return cell === 0 ? undefined : cell - 1;
  }

  exited(row: number, code: number): void {
    Atomics.store(this.flags, F * row + 4, code + 1);
  }

  /** Clears a row for its next batch. */
  reset(row: number): void {
    this.timing[2 * row] = 0;
    this.timing[2 * row + 1] = 0;
    Atomics.store(this.flags, F * row, 0);
    Atomics.store(this.flags, F * row + 1, 0);
    Atomics.store(this.flags, F * row + 2, 0);
    Atomics.store(this.flags, F * row + 3, 0);
    Atomics.store(this.flags, F * row + 4, 0);
  }
}

/** The reply to a `BatchRequest`. */
export interface BatchResponse {
  /**
   * `values[i]` is item i's result; holes where the item failed or did not run. Results that are
   * all numbers travel packed in a typed array (see `packNumbers`).
   */
  readonly values: readonly unknown[] | Packed;
  /**
   * The results as the JSON text of the array `values` would be, `values` then empty: sent when
   * the request allowed it and every result is JSON-exact (src/wire/exact-json.ts).
   */
  readonly json: string | undefined;
  /** `null` when every item that ran succeeded; else `failures[i]` for each failed item. */
  readonly failures: (WireError | undefined)[] | null;
  /** How many items ran (the first `count` of `inputs`); the rest did not run and must go again. */
  readonly count: number;
  /** Time spent running the items, in ms. */
  readonly ms: number;
  /**
   * The worker asks to be replaced (it reached `maxItems`, its heap is past `maxHeapBytes`, or its
   * setup failed); its teardown has run.
   */
  readonly retire: boolean;
  /** Why its teardown failed, when it retires and its teardown failed. */
  readonly teardownError?: WireError;
  /** `threadId` (thread runtime) or `pid` (process runtime) of the worker that answered. */
  readonly workerId: number;
}

/** Why an item failed in a worker, in a form that crosses the boundary by structured clone. */
export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly stack: string | undefined;
  /** Own enumerable properties of the thrown error (`code` among them), made cloneable. */
  readonly props: Record<string, unknown>;
  /** The thrown value was not an `Error` (a string, a number, a plain object...). */
  readonly nonError: boolean;
  readonly cause: WireError | undefined;
  /**
   * Set when trying again cannot help, so the item is not retried: a result that cannot be cloned,
   * a failed setup, a work module or function that does not load, an item of `pool.starmap` that
   * is not an array of arguments.
   */
  readonly fatal: 'clone' | 'setup' | 'load' | 'arguments' | undefined;
  /** Advice to add to the main-side message (a captured variable in an inline function). */
  readonly hint: string | undefined;
}

/** Batches shorter than this are not worth packing. */
const PACK_MIN = 8;

/** Numbers packed for the trip: small integers as `Int32Array`, any others as `Float64Array`. */
export type Packed = Int32Array<ArrayBuffer> | Float64Array<ArrayBuffer>;

/** Whether `value` comes back the same out of an `Int32Array` (`-0` would come back as `0`). */
function isInt32(value: number): boolean {
  return (value | 0) === value && (value !== 0 || 1 / value > 0);
}

/**
 * The batch packed in a typed array when it holds numbers only (and is long enough to gain), else
 * `undefined`. Structured clone copies a typed array's memory in one go, where an array of numbers
 * costs a clone step per element, each way, which caps the rate of trivial items (figures:
 * bench/RESULTS.md). Integers that fit 32 bits go in an `Int32Array`, so
 * that the other side reads them back as small integers: read from a `Float64Array`, 27 is a
 * double, and a function that once got a double does all its arithmetic in doubles from then on
 * (much slower: bench/RESULTS.md). Any other numbers go in a `Float64Array`, which holds every JavaScript
 * number exactly (`NaN`, `-0` and `Infinity` included).
 */
export function packNumbers(values: ArrayLike<unknown>): Packed | undefined {
  const length = values.length;
  if (length < PACK_MIN) return undefined;
  let ints = true;
  for (let i = 0; i < length; i++) {
    const value = values[i];
    if (typeof value !== 'number') return undefined;
    if (ints && !isInt32(value)) ints = false;
  }
  const packed = ints ? new Int32Array(length) : new Float64Array(length);
  for (let i = 0; i < length; i++) packed[i] = values[i] as number;
  return packed;
}

/**
 * A batch's results as they are made, packed as they come (see {@link packNumbers}): straight
 * into a `Float64Array` while every one is a number (no number boxed on the worker's heap, no
 * second pass to check them), in a plain array from the first one that is not; an `Int32Array` at
 * the end if all were small integers. What is at the place of an item that failed or did not run
 * is not read.
 */
export class ResultList {
  private packed: Float64Array<ArrayBuffer> | undefined;
  private plain: unknown[] | undefined;
  /** Every number so far fits an `Int32Array`. */
  private ints = true;

  constructor(private readonly capacity: number) {
    if (capacity >= PACK_MIN) this.packed = new Float64Array(capacity);
    else this.plain = new Array(capacity);
  }

  set(index: number, value: unknown): void {
    if (this.packed !== undefined) {
      if (typeof value === 'number') {
        this.packed[index] = value;
        if (this.ints && !isInt32(value)) this.ints = false;
        return;
      }
      // Small integers as such (`| 0`), not as the doubles a Float64Array gives back.
      this.plain = Array.from(this.packed.subarray(0, index), (v) => (isInt32(v) ? v | 0 : v));
      this.plain.length = this.capacity;
      this.packed = undefined;
    }
    this.plain![index] = value;
  }

  /** The results of the first `count` places, and the buffer to transfer when they are packed. */
  take(count: number): { values: unknown[] | Packed; buffer: ArrayBuffer | undefined } {
    if (this.packed === undefined) return { values: this.plain!, buffer: undefined };
    const values: Packed = this.ints
      ? Int32Array.from(this.packed.subarray(0, count))
      : count === this.capacity
        ? this.packed
        : this.packed.slice(0, count);
    return { values, buffer: values.buffer };
  }
}

/**
 * The key under which `move(value, transferList)` attaches the transfer list to a task's result,
 * as a non-enumerable property that structured clone ignores.
 */
export const MOVE_BRAND: unique symbol = Symbol.for('rxpool.move');

/**
 * The longest a worker's teardown may take, in ms (both sides bound it); past it the worker stops anyway and the teardown is
 * reported as failed. Under tinypool's second before it kills a child process that does not exit.
 */
export const TEARDOWN_MS = 900;

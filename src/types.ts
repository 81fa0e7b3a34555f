import type { TaskError } from './errors.js';

/** An item that succeeded, as `parallelSettle` emits it. */
export interface Success<In, Out> {
  readonly ok: true;
  /** The item's 0-based position in the source. */
  readonly index: number;
  readonly input: In;
  readonly value: Out;
}

/** An item that failed for good (after its retries), as `parallelSettle` emits it. */
export interface Failure<In> {
  readonly ok: false;
  /** The item's 0-based position in the source. */
  readonly index: number;
  readonly input: In;
  readonly error: TaskError<In>;
}

/** One item's outcome. */
export type Settled<In, Out> = Success<In, Out> | Failure<In>;

/** What can be moved to another thread instead of copied: `ArrayBuffer`, `MessagePort`... */
export type Transferable = import('node:worker_threads').TransferListItem;

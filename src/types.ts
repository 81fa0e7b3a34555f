/**
 * The values that the settling operators emit, one per item, and the `Transferable` type.
 */
import type { TaskError } from './errors.js';

/**
 * An item that succeeded, as {@link parallelSettle} emits it.
 *
 * _The value, with the input it came from and where that input was in the source._
 *
 * ## Example
 * ```ts
 * of(3).pipe(parallelSettle((n: number) => n * n)).subscribe((s) => console.log(s));
 * // Output:
 * // { ok: true, index: 0, input: 3, value: 9 }
 * ```
 *
 * @typeParam In The type of the source's items.
 * @typeParam Out The type of the results.
 */
export interface Success<In, Out> {
  /** Always `true`: tells a {@link Success} from a {@link Failure}. */
  readonly ok: true;
  /** The item's 0-based position in the source. */
  readonly index: number;
  /** The item as the source gave it. */
  readonly input: In;
  /** What the work returned for it (awaited when it returned a promise). */
  readonly value: Out;
}

/**
 * An item that failed for good (after its retries), as {@link parallelSettle} emits it.
 *
 * _The error, with the input that caused it and where that input was in the source._
 *
 * ## Example
 * ```ts
 * of('x')
 *   .pipe(parallelSettle((s: string) => { throw new Error(`bad ${s}`); }))
 *   .subscribe((f) => console.log(f.ok, f.index, f.input, f.error.cause.message));
 * // Output:
 * // false 0 x bad x
 * ```
 *
 * @typeParam In The type of the source's items.
 */
export interface Failure<In> {
  /** Always `false`: tells a {@link Failure} from a {@link Success}. */
  readonly ok: false;
  /** The item's 0-based position in the source. */
  readonly index: number;
  /** The item as the source gave it. */
  readonly input: In;
  /**
   * Why it failed: a {@link TaskError}, or one of its subclasses {@link TaskTimeoutError} and
   * {@link WorkerCrashedError}. Its `cause` is the error thrown in the worker.
   */
  readonly error: TaskError<In>;
}

/**
 * One item's outcome: a {@link Success} or a {@link Failure}, told apart by `ok`.
 *
 * _What {@link parallelSettle} emits for every item, so that a failure never fails the stream._
 *
 * Pipe the error operators ({@link skipFailures}, {@link throwFailures}, {@link recoverFailures},
 * {@link routeFailures}) to turn a stream of them back into values, or test `ok` yourself.
 *
 * ## Example
 * ```ts
 * const divide = (n: number) => {
 *   if (n === 0) throw new Error('zero');
 *   return 10 / n;
 * };
 * function show(s: Settled<number, number>): string {
 *   return s.ok ? `#${s.index} = ${s.value}` : `#${s.index} failed: ${s.error.cause.message}`;
 * }
 * of(1, 0).pipe(parallelSettle(divide)).subscribe((s) => console.log(show(s)));
 * // Output:
 * // #0 = 10
 * // #1 failed: zero
 * ```
 *
 * @typeParam In The type of the source's items.
 * @typeParam Out The type of the results.
 */
export type Settled<In, Out> = Success<In, Out> | Failure<In>;

/**
 * What can be moved to another thread instead of copied: `ArrayBuffer`, `MessagePort`... A
 * `SharedArrayBuffer` is taken too and left out of the move (its memory is shared, not copied),
 * so that `[array.buffer]` needs no cast for a typed array whose buffer TypeScript types as
 * `ArrayBufferLike` (5.7+: `Float64Array` is `Float64Array<ArrayBufferLike>`).
 */
export type Transferable = import('node:worker_threads').TransferListItem | SharedArrayBuffer;

/** A transfer list as it is posted: what {@link Transferable} names, shared memory left out. */
export type TransferListItem = import('node:worker_threads').TransferListItem;

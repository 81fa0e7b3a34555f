/**
 * The options of the faces that run work over items (the operators, `pool.run`, `pool.map`,
 * `pool.imap` and their kin): their types and documentation. src/options.ts checks them.
 */
import type { Progress } from './engine/progress.js';
import type { RetryConfig } from './engine/retry.js';
import type { Pool } from './pool/pool.js';
import type { Transferable } from './types.js';

/**
 * Options of {@link parallelMap}, {@link parallelSettle}, {@link Pool.imap} and {@link Pool.map}.
 *
 * _How many items at once, in which order, on which pool, and what to do when one is slow or fails._
 *
 * Every option is optional, and the same name means the same thing on every face. Options are
 * checked when the operator or method is called, so a typo or a bad value throws a `TypeError` at
 * once that says what was expected and what came. `signal` is for the Pool's methods only: an
 * operator stops when it is unsubscribed.
 *
 * ## Example
 * ```ts
 * import { from } from 'rxjs';
 * import { parallelMap } from 'rxpool/operators';
 *
 * from(['a', 'bb', 'ccc'])
 *   .pipe(parallelMap((s: string) => s.length, { concurrency: 2, timeout: 5_000, retry: 2 }))
 *   .subscribe((n) => console.log(n));
 * // Output:
 * // 1
 * // 2
 * // 3
 * ```
 *
 * @typeParam In The type of the items, as `transfer` receives them.
 */
export interface ParallelOptions<In = any> {
  /**
   * Whether results come out in source order.
   *
   * `true`: item `i` is emitted after items `0..i-1`, so a slow item holds back those after it
   * (they wait, finished, in the window). `false`: each result is emitted as soon as it is ready,
   * which keeps the workers busier when order does not matter (Python's `imap_unordered`).
   *
   * @default true
   */
  readonly ordered?: boolean;
  /**
   * The most items taken from the source and not yet emitted: running, waiting for a worker, or
   * finished and waiting for their turn (ordered mode). An integer from 1 up, or `Infinity`.
   *
   * It bounds the memory held. `pool.imap` reads no more of its input than this; an RxJS source
   * pushes, so its values beyond the window wait in a buffer in front of it, as with `mergeMap`'s
   * `concurrent`.
   *
   * @default `16384` ({@link DEFAULT_CONCURRENCY}); on a pool whose executor sets its own
   * (`ExecutorTraits.concurrency`), that one: `262144` for `bullmqExecutor`
   */
  readonly concurrency?: number;
  /**
   * The pool to run on, made with {@link createPool}. Not accepted by `pool.imap` and `pool.map`,
   * which run on the pool they are called on.
   *
   * @default the shared pool of {@link defaultPool}
   */
  readonly pool?: Pool;
  /**
   * How many items may travel to a worker in one message: `'auto'`, or an integer from 1 up.
   *
   * `'auto'` sends an item alone while workers are idle (no added latency) and, once items queue
   * up behind busy workers, batches of about 8 ms of work by the measured time per item. A
   * number fixes the largest batch (Python's `chunksize`). Results and failures stay per item.
   *
   * @default 'auto'
   */
  readonly batchSize?: number | 'auto';
  /**
   * How long each attempt of an item may run, in ms: a number above 0, or `Infinity` for none.
   *
   * The time counts from the item's own start, even inside a batch. Past it the attempt fails with
   * a {@link TaskTimeoutError}, however the task ends: its `context.signal` is aborted, and a task
   * that settles within the pool's `abortGrace` keeps its worker; one that does not (or runs
   * synchronously) is stopped with its worker, which is replaced, so a runaway task really ends.
   * The item's batch-mates that had not run go again.
   *
   * @default `undefined`: no timeout
   */
  readonly timeout?: number;
  /**
   * How many times a failed attempt is tried again before the item counts as failed: a count
   * from 0 up, or a {@link RetryConfig} for waits between attempts and a `retryIf` test.
   *
   * Failures that cannot succeed (a value that cannot be cloned, a failed `setup`) are not retried,
   * nor is an item whose `transfer` buffers moved (see `transfer`).
   * {@link TaskError.attempts} tells how many attempts ran.
   *
   * @default 0
   */
  readonly retry?: number | RetryConfig;
  /**
   * The `ArrayBuffer`s (or `MessagePort`s) of an input to move to the worker instead of copying
   * them. They are unusable on the main thread afterwards. In a task, {@link move} sends a result's
   * buffers back the same way. An item whose buffers moved cannot run again. So with `retry`,
   * when its attempt fails it fails at once, not retried: its {@link TaskError}'s `cause` is what
   * that attempt threw, and the message adds a line that says why there was no retry. When a
   * batch-mate crashed its worker (or timed out) before the item finished, the item fails with a
   * `TransferredError` cause instead of being sent again without its buffers. A
   * `SharedArrayBuffer` is shared, never copied, and needs no `transfer`.
   *
   * @default `undefined`: every input is copied (structured clone)
   */
  readonly transfer?: (input: In) => readonly Transferable[];
  /**
   * Stops the work when it fires: queued items never run, running ones are stopped, and the
   * iteration or promise rejects with an {@link AbortError} whose `cause` is the signal's
   * `reason`. For the Pool's methods only; the operators throw if given one (unsubscribe, or use
   * `takeUntil`, to stop them).
   *
   * @default `undefined`: runs until done
   */
  readonly signal?: AbortSignal;
  /**
   * Called on the main thread with counts of the work done, at most every 100 ms while items are
   * emitted, and once more, with `final: true`, when the stream completes (not on error or
   * unsubscribe). A callback that throws errors the stream with what it threw.
   *
   * @see {@link Progress}
   * @default `undefined`: no reports
   */
  readonly progress?: (progress: Progress) => void;
  /**
   * How many items the source will give, an integer from 0 up, for {@link Progress.etaMs}.
   *
   * @default the length of an array given to `pool.map` or `pool.imap`; otherwise `undefined` (unknown)
   */
  readonly total?: number;
  /**
   * Per-key order (Akka's `mapAsyncPartitioned`): a function of the input that returns its key, a
   * string or a number. Items with the same key never run at the same time and run in source
   * order, each after the one before it is final (succeeded, or failed after its retries); items
   * with different keys run in parallel. With `ordered: true` the output stays in source order;
   * with `ordered: false` each key's results still come in that key's source order.
   *
   * Keys are compared as `Map` keys compare them (`1` and `'1'` differ). Two items of one key
   * never travel in the same batch. The function runs on the main thread once per item, when the
   * item is taken into the window; an item whose key throws, or is neither a string nor a
   * number, fails alone with a {@link TaskError} whose `cause` says why, and the others go on.
   * Items waiting for their key's turn count against `concurrency`.
   *
   * @default `undefined`: every item may run as soon as a worker is free
   */
  readonly key?: (input: In) => string | number;
}

/**
 * Options of {@link parallelFlatMap}, {@link parallelFlatSettle} and {@link Pool.imapFlat}: those
 * of {@link ParallelOptions}, and `highWaterMark`.
 *
 * _How many values of one item may wait on this side before its worker stops pulling them._
 *
 * `timeout` bounds each wait for an item's next value (and for its end), not the whole item, and
 * time paused by `highWaterMark` does not count; `retry` runs again only an attempt none of whose
 * values was emitted.
 *
 * ## Example
 * ```ts
 * source$.pipe(parallelFlatMap(splitRecords, { highWaterMark: 256, timeout: 5_000 }));
 * ```
 *
 * @typeParam In The type of the items, as `transfer` receives them.
 */
export interface FlatOptions<In = any> extends ParallelOptions<In> {
  /**
   * The most values of one item held on the caller's side and not yet emitted: an integer from 1
   * up. When an item has that many waiting (the consumer is slower, or, in ordered mode, the item
   * waits for those before it), its iterator is not pulled in the worker until some are emitted.
   * An Observable cannot be paused: its values wait in the worker instead.
   *
   * @default `1024` (`DEFAULT_HIGH_WATER_MARK`)
   */
  readonly highWaterMark?: number;
}

/**
 * Options of {@link Pool.map} and {@link Pool.starmap}: those of {@link ParallelOptions} but
 * `pool` (they run on the pool they are called on), with `ordered` only as `true`.
 *
 * _The options of the methods that resolve with every result, in input order._
 *
 * They return results in input order, so `ordered: false` is a type error (and throws a
 * `TypeError` for JavaScript callers); for results in completion order use {@link Pool.imap}.
 *
 * ## Example
 * ```ts
 * const options: MapOptions<number> = { concurrency: 64, retry: 2 };
 * console.log(await pool.map((n: number) => n * 2, [1, 2, 3], options));
 * // Output:
 * // [ 2, 4, 6 ]
 * ```
 *
 * @typeParam In The type of the items, as `transfer` receives them.
 */
export type MapOptions<In = any> = Omit<ParallelOptions<In>, 'ordered' | 'pool'> & {
  /**
   * Always `true`: the results come in input order.
   *
   * @default true
   */
  readonly ordered?: true;
};

/**
 * Options of {@link Pool.run}: the per-item subset of {@link ParallelOptions}.
 *
 * _A time limit, retries, buffers to move, and a way to stop, for one item._
 *
 * ## Example
 * ```ts
 * const controller = new AbortController();
 * const value = await pool.run((n: number) => n * 2, 21, {
 *   timeout: 1_000,
 *   retry: { count: 2, delay: 100 },
 *   signal: controller.signal,
 * });
 * console.log(value);
 * // Output:
 * // 42
 * ```
 *
 * @typeParam In The type of the input, as `transfer` receives it.
 */
export interface RunOptions<In = any> {
  /**
   * Stops the item when it fires: it never runs if it is still queued, and is stopped (its worker
   * replaced) if it runs; the promise rejects with an {@link AbortError} whose `cause` is the
   * signal's `reason`.
   *
   * @default `undefined`: runs until done
   */
  readonly signal?: AbortSignal;
  /**
   * How long each attempt may run, in ms: a number above 0, or `Infinity` for none. Past it the
   * attempt fails with a {@link TaskTimeoutError} and the worker running it is replaced.
   *
   * @default `undefined`: no timeout
   */
  readonly timeout?: number;
  /**
   * How many times a failed attempt is tried again: a count from 0 up, or a {@link RetryConfig}.
   *
   * @default 0
   */
  readonly retry?: number | RetryConfig;
  /**
   * The `ArrayBuffer`s (or `MessagePort`s) of the input to move to the worker instead of copying
   * them: a list, or a function of the input that returns one.
   *
   * @default `undefined`: the input is copied (structured clone)
   */
  readonly transfer?: readonly Transferable[] | ((input: In) => readonly Transferable[]);
}

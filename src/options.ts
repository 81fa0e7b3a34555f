/**
 * The options that every face shares, their defaults, and their validation. Messages say what was
 * expected and what came, as p-map's do.
 */

import type { EngineConfig } from './engine/engine.js';
import { DEFAULT_HIGH_WATER_MARK } from './engine/flat.js';
import type { Progress } from './engine/progress.js';
import { type RetryConfig, retryPolicy } from './engine/retry.js';
import type { Pool } from './pool/pool.js';
import { describeValue, toWorkSpec } from './pool/task.js';
import type { Transferable } from './types.js';

export { DEFAULT_CONCURRENCY } from './engine/defaults.js';

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

/**
 * An option that no user sets: the trace context of each item of the input, by position (an
 * `rxpool worker` passes on its job's, src/bullmq/serve.ts), instead of the context active at
 * each push. A symbol: not in the options a user sees, nor in the check of unknown ones.
 */
export const ITEM_TRACES: unique symbol = Symbol('rxpool.itemTraces');

const parallelKeys = [
  'ordered',
  'concurrency',
  'pool',
  'batchSize',
  'timeout',
  'retry',
  'transfer',
  'signal',
  'progress',
  'total',
  'key',
];
const runKeys = ['signal', 'timeout', 'retry', 'transfer'];

/** What a face needs to start an engine. */
export interface Resolved<In> {
  readonly config: EngineConfig<In>;
  readonly pool: Pool | undefined;
  readonly signal: AbortSignal | undefined;
}

/** Validates `work` and options at once (at the operator's call, before any subscription). */
export function resolveParallel<In>(
  work: unknown,
  options: ParallelOptions<In> | undefined,
  where: string,
  flat = false,
): Resolved<In> {
  const spec = toWorkSpec(work);
  const o = checkObject(
    options,
    where,
    flat ? [...parallelKeys, 'highWaterMark'] : parallelKeys,
  ) as FlatOptions<In>;
  const highWaterMark = o.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  if (!(Number.isInteger(highWaterMark) && highWaterMark >= 1)) {
    fail('highWaterMark', 'an integer from 1 up', highWaterMark);
  }
  const ordered = o.ordered ?? true;
  if (typeof ordered !== 'boolean') fail('ordered', 'a boolean', ordered);
  const { concurrency } = o;
  if (
    concurrency !== undefined &&
    !(Number.isInteger(concurrency) && concurrency >= 1) &&
    concurrency !== Infinity
  ) {
    fail('concurrency', 'an integer from 1 up or `Infinity`', concurrency);
  }
  const batchSize = o.batchSize ?? 'auto';
  if (batchSize !== 'auto' && !(Number.isInteger(batchSize) && batchSize >= 1)) {
    fail('batchSize', "`'auto'` or an integer from 1 up", batchSize);
  }
  if (o.pool !== undefined && !isPoolLike(o.pool)) {
    fail('pool', 'a Pool from createPool()', o.pool);
  }
  if (o.transfer !== undefined && typeof o.transfer !== 'function') {
    fail('transfer', 'a function (input) => Transferable[]', o.transfer);
  }
  if (o.progress !== undefined && typeof o.progress !== 'function') {
    fail('progress', 'a function (progress) => void', o.progress);
  }
  if (o.total !== undefined && !(Number.isInteger(o.total) && o.total >= 0)) {
    fail('total', 'an integer from 0 up', o.total);
  }
  if (o.key !== undefined && typeof o.key !== 'function') {
    fail('key', 'a function (input) => string | number', o.key);
  }
  return {
    config: {
      work: spec,
      concurrency,
      ordered,
      batchSize,
      timeout: checkTimeout(o.timeout),
      retry: retryPolicy(checkRetry(o.retry)),
      transfer: o.transfer,
      progress: o.progress,
      total: o.total,
      flat: flat ? { highWaterMark } : undefined,
      key: o.key && checkedKey(o.key),
      traces: (o as { [ITEM_TRACES]?: EngineConfig<In>['traces'] })[ITEM_TRACES],
      origin: (o as { [ORIGIN]?: EngineConfig<In>['origin'] })[ORIGIN],
    },
    pool: o.pool,
    signal: checkSignal(o.signal),
  };
}

/** Validates `pool.run`'s work and options. */
export function resolveRun<In>(work: unknown, options: RunOptions<In> | undefined): Resolved<In> {
  const spec = toWorkSpec(work);
  const o = checkObject(options, 'pool.run', runKeys) as RunOptions<In>;
  const transfer = o.transfer;
  let transferFn: ((input: In) => readonly Transferable[]) | undefined;
  if (Array.isArray(transfer)) transferFn = () => transfer;
  else if (typeof transfer === 'function') transferFn = transfer;
  else if (transfer !== undefined) {
    fail('transfer', 'an array of Transferables or a function', transfer);
  }
  return {
    config: {
      work: spec,
      concurrency: 1,
      ordered: true,
      batchSize: 1,
      timeout: checkTimeout(o.timeout),
      retry: retryPolicy(checkRetry(o.retry)),
      transfer: transferFn,
    },
    pool: undefined,
    signal: checkSignal(o.signal),
  };
}

function checkObject(options: unknown, where: string, known: string[]): Record<string, unknown> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object') {
    throw new TypeError(
      `Expected the options of ${where} to be an object, got ${describeValue(options)}`,
    );
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new TypeError(
        `Unknown option \`${key}\` for ${where}; the options are ${known.map((k) => `\`${k}\``).join(', ')}`,
      );
    }
  }
  return options as Record<string, unknown>;
}

function checkTimeout(timeout: unknown): number | undefined {
  if (timeout === undefined || timeout === Infinity) return undefined;
  if (typeof timeout !== 'number' || !(timeout > 0) || !Number.isFinite(timeout)) {
    fail('timeout', 'a number of ms above 0 (or `Infinity` for none)', timeout);
  }
  return timeout;
}

function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) fail('signal', 'an AbortSignal', signal);
  return signal;
}

function checkRetry(retry: unknown): number | RetryConfig | undefined {
  if (retry === undefined) return undefined;
  if (typeof retry === 'number') {
    if (!(Number.isInteger(retry) && retry >= 0)) {
      fail('retry', 'an integer from 0 up, or { count, delay, backoff, maxDelay, retryIf }', retry);
    }
    return retry;
  }
  if (retry === null || typeof retry !== 'object') {
    fail('retry', 'an integer from 0 up, or { count, delay, backoff, maxDelay, retryIf }', retry);
  }
  const r = checkObject(retry, '`retry`', ['count', 'delay', 'backoff', 'maxDelay', 'retryIf']);
  if (!(Number.isInteger(r.count) && (r.count as number) >= 0)) {
    fail('retry.count', 'an integer from 0 up', r.count);
  }
  if (
    r.delay !== undefined &&
    !(typeof r.delay === 'number' && r.delay >= 0 && Number.isFinite(r.delay))
  ) {
    fail('retry.delay', 'a number of ms from 0 up', r.delay);
  }
  if (r.backoff !== undefined && r.backoff !== 'fixed' && r.backoff !== 'exponential') {
    fail('retry.backoff', "`'fixed'` or `'exponential'`", r.backoff);
  }
  if (r.maxDelay !== undefined && !(typeof r.maxDelay === 'number' && r.maxDelay >= 0)) {
    fail('retry.maxDelay', 'a number of ms from 0 up', r.maxDelay);
  }
  if (r.retryIf !== undefined && typeof r.retryIf !== 'function') {
    fail('retry.retryIf', 'a function (error, attempt) => boolean', r.retryIf);
  }
  return r as unknown as RetryConfig;
}

/** The `key` option, checking what it returns (an item whose key is not one fails alone). */
function checkedKey<In>(key: (input: In) => unknown): (input: In) => string | number {
  return (input) => {
    const value = key(input);
    if (typeof value === 'string' || typeof value === 'number') return value;
    throw new TypeError(
      `Expected \`key\` to return a string or a number, got ${describeValue(value)}`,
    );
  };
}

function isPoolLike(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as Pool).imap === 'function';
}

/** Throws the house-style message: what was expected and what came. */
/**
 * @internal An option key of the pool's iterating methods, for `rxpool worker`: the items are
 * those of a remote batch, in these spans (`EngineConfig.origin`).
 */
export const ORIGIN: unique symbol = Symbol('rxpool.origin');

export function fail(name: string, expected: string, got: unknown): never {
  throw new TypeError(`Expected \`${name}\` to be ${expected}, got ${describeValue(got)}`);
}

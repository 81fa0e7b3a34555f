/**
 * The Pool: Python's `multiprocessing.Pool` for Node.js, on worker threads by default. `run`, `map`,
 * `starmap` and `imap` are thin faces over the engine; the pool's Dispatcher gives the engines
 * turns on its executor, which runs the batches.
 */
import { realClock } from '../engine/clock.js';
import { Engine } from '../engine/engine.js';
import type { Percentiles } from '../engine/histogram.js';
import { abortedBy, TaskError } from '../errors.js';
import type { Executor } from '../executor/contract.js';
import { Dispatcher } from '../executor/dispatcher.js';
import {
  type FlatOptions,
  fail,
  type MapOptions,
  type ParallelOptions,
  type Resolved,
  type RunOptions,
  resolveParallel,
  resolveRun,
} from '../options.js';
import { DEFAULT_ABORT_GRACE_MS, defaultSize, TinypoolExecutor } from '../threads/executor.js';
import { processExecutor } from '../threads/process-executor.js';
import { threadExecutor } from '../threads/thread-executor.js';
import type { Settled } from '../types.js';
import { reviveError } from '../worker/wire-error.js';
import { engineIterable } from './imap.js';
import type { WorkSpec } from './messages.js';
import {
  describeValue,
  type FlatWork,
  type StarWork,
  type Task,
  type TaskContext,
  toWorkSpec,
  type Work,
} from './task.js';

/**
 * Options of {@link createPool}: how many workers, of what kind, and when to replace them.
 *
 * _Python's `Pool(processes, initializer, maxtasksperchild)`, with a memory cap._
 *
 * Every option is optional and checked at once: a bad value throws a `TypeError` that says what
 * was expected and what came.
 *
 * ## Example
 * ```ts
 * await using pool = createPool({
 *   size: 4,
 *   maxTasksPerWorker: 10_000,
 *   setup: task(new URL('./warm-cache.js', import.meta.url)),
 *   maxHeapMb: 512,
 * });
 * console.log(pool.stats().size);
 * // Output:
 * // 4
 * ```
 */
export interface PoolOptions<State = any> {
  /**
   * How many workers: an integer from 1 up (Python's `processes`).
   *
   * @default `os.availableParallelism()`
   */
  readonly size?: number;
  /**
   * `'thread'`: worker threads, cheap to start. `'process'`: child processes, for code that must
   * have a process of its own (a native module that is not thread-safe, `process.chdir`).
   *
   * @default 'thread'
   */
  readonly runtime?: 'thread' | 'process';
  /**
   * How long an idle worker is kept before it stops, in ms from 0 up. With `Infinity`, `size`
   * workers are kept once started (they never keep the process alive either way).
   *
   * @default Infinity
   */
  readonly idleTimeout?: number;
  /**
   * Replace a worker after it ran this many items: an integer from 1 up, or `Infinity` (Python's
   * `maxtasksperchild`). Bounds what a leaky task can accumulate.
   *
   * @default Infinity
   */
  readonly maxTasksPerWorker?: number;
  /**
   * Runs once in every worker before its first item (Python's `initializer`): a {@link Task} or
   * a self-contained function, called with no input and awaited. When it throws, the items sent to
   * that worker fail with a `TaskError` whose cause is named `SetupError`, and are not retried.
   *
   * @default `undefined`: no setup
   */
  readonly setup?: Task<void, State | Promise<State>> | (() => State | Promise<State>);
  /**
   * The largest heap a worker may grow, in MB: an integer from 8 up. A worker that grows past it
   * dies and is replaced; the item it ran fails with a {@link WorkerCrashedError}.
   *
   * @default `undefined`: Node's own limit
   */
  readonly maxHeapMb?: number;
  /**
   * The environment of every worker, instead of this process's: an object of strings, which
   * becomes the worker's `process.env` whole (it replaces the inherited one; spread
   * `process.env` into it to add to it). Without it, a worker process inherits `process.env` as
   * `child_process.fork` does, and a worker thread gets a copy of it, as `new Worker` does.
   *
   * @default `process.env`, as it is when each worker starts
   */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * How long a task whose `signal` was aborted (unsubscribe, `timeout`, `destroy()`, an abort by
   * `signal`) has to settle, in ms from 0 up: a task that settles within it keeps its worker (no
   * worker is replaced, none is started); one that does not is stopped with its worker. A task
   * that runs synchronously on a thread cannot hear the abort: past its `timeout` its worker is
   * stopped at once, grace or not. A timeout fails its item with a {@link TaskTimeoutError}
   * however the task ended.
   *
   * @default 1000
   */
  readonly abortGrace?: number;
  /**
   * Runs in each worker before it stops, for any reason but a crash (`close()`,
   * `maxTasksPerWorker`, `idleTimeout`, `recycleMemoryMb`): a {@link Task} or a self-contained
   * function, called with the worker's `state` (what `setup` returned) and its context, and
   * awaited: close a connection, flush a buffer. It has at most 900 ms
   * (`TEARDOWN_MS`); past it, or when it throws, the worker stops anyway, `close()` goes on, and
   * the failure is reported as a process warning of type `RxpoolTeardownWarning`.
   *
   * @default `undefined`: no teardown
   */
  readonly teardown?:
    | Task<State, unknown, State>
    | ((state: State, context: TaskContext<State>) => unknown);
  /**
   * Replace a worker whose JavaScript heap in use is above this many MB after a batch, between
   * items: its teardown runs, nothing fails, the next items go to its replacement (Jest's
   * `workerIdleMemoryLimit`). A number above 0. Unlike `maxHeapMb`, which kills a worker
   * mid-item, it never fails an item, but it does not bound what one item allocates.
   *
   * @default `undefined`: never
   */
  readonly recycleMemoryMb?: number;
  /**
   * What runs the batches, instead of the default worker threads: any object that implements
   * {@link Executor} (see the README's "Custom executors"). `size`, `runtime`, `idleTimeout`,
   * `maxTasksPerWorker`, `setup`, `maxHeapMb`, `env`, `abortGrace`, `teardown` and
   * `recycleMemoryMb` configure the default executor: none of them may
   * come with `executor`.
   *
   * @default worker threads (or processes, `runtime`)
   */
  readonly executor?: Executor;
}

/**
 * What {@link Pool.stats} reports: what the pool is doing now, and what it has done.
 *
 * _Is the pool busy, is work waiting, how fast does it go, and how long do items take?_
 *
 * Low `utilization` with many tiny items means the main thread is the bottleneck (raise
 * `concurrency` so batches get larger); a growing `waitTime` means the pool is too small for the
 * input rate.
 *
 * ## Example
 * ```ts
 * const pool = createPool({ size: 2 });
 * await pool.map((n: number) => n * 2, [1, 2, 3]);
 * const { size, busy, queued, completed, failed } = pool.stats();
 * console.log({ size, busy, queued, completed, failed });
 * // Output:
 * // { size: 2, busy: 0, queued: 0, completed: 3, failed: 0 }
 * ```
 */
export interface PoolStats {
  /** Workers in the pool: the `size` option. */
  readonly size: number;
  /**
   * Workers running a batch now.
   *
   * @default 0 while idle
   */
  readonly busy: number;
  /**
   * Items waiting for a worker: in a stream's queue, or sent in a batch not yet started.
   *
   * @default 0 while idle
   */
  readonly queued: number;
  /**
   * Items that ran and succeeded, since the pool was made.
   *
   * @default 0 before any item
   */
  readonly completed: number;
  /**
   * Attempts of items that failed (threw, timed out, crashed their worker, could not be sent),
   * since the pool was made. A retried item counts once per failed attempt.
   *
   * @default 0 before any failure
   */
  readonly failed: number;
  /**
   * The share of the workers' time spent running items since the pool first got work, from 0 to
   * 1. Low with many small items means the main thread is the bottleneck; near 1, the workers.
   *
   * @default 0 before any work
   */
  readonly utilization: number;
  /**
   * Items completed per second since the pool first got work.
   *
   * @default 0 before any work
   */
  readonly throughput: number;
  /**
   * How long an item runs in a worker, in ms, over every item since the pool was made (the items
   * of a batch each at the batch's run time over its items): p50, p90, p99 from an always-on
   * histogram (within ~3%), `max`, and `count`.
   */
  readonly runTime: Percentiles;
  /**
   * How long an item waits from its admission (or its going back to the queue for another
   * attempt) until its batch starts in a worker, in ms, over every item since the pool was made.
   */
  readonly waitTime: Percentiles;
}

/** The options that configure the default executor. */
const defaultExecutorKeys = [
  'size',
  'runtime',
  'idleTimeout',
  'maxTasksPerWorker',
  'setup',
  'maxHeapMb',
  'env',
  'abortGrace',
  'teardown',
  'recycleMemoryMb',
];
const poolKeys = [...defaultExecutorKeys, 'executor'];

/**
 * The key of {@link Pool}'s `imapSettled` with `starmap`'s spreading, for `rxpool worker`
 * (src/bullmq/serve.ts), which runs a producer's `pool.starmap` jobs on its local pool. Not
 * exported from `rxpool`: no user calls it.
 */
export const imapSettledSpread: unique symbol = Symbol('rxpool.imapSettledSpread');

/**
 * A pool of workers that runs {@link Work} over items, like Python's `multiprocessing.Pool`.
 *
 * _Send work to other threads: one item, a whole list, or a lazy stream of results._
 *
 * Make one with {@link createPool}, or use the shared pool of {@link defaultPool} that every call
 * naming no pool runs on. Workers start on first use and never keep the process alive while idle.
 * Calls of `run`, `map` and `imap` may overlap on one pool; the RxJS operators run on a pool
 * through their `pool` option. A failed item never breaks the pool: a crashed or timed-out worker is replaced.
 *
 * | Python | rxpool |
 * | --- | --- |
 * | `pool.apply_async(f, (x,))` | `pool.run(f, x)` |
 * | `pool.map(f, xs)` | `pool.map(f, xs)` |
 * | `pool.starmap(f, [(1, 2), (3, 4)])` | `pool.starmap(f, [[1, 2], [3, 4]])` |
 * | `pool.imap(f, xs)` / `imap_unordered` | `pool.imap(f, xs)` / `{ ordered: false }` |
 * | `pool.close(); pool.join()` | `await pool.close()` |
 * | `pool.terminate()` | `await pool.destroy()` |
 *
 * ## Example
 * ```ts
 * import { createPool } from 'rxpool';
 *
 * await using pool = createPool({ size: 4 });
 * console.log(await pool.run((n: number) => n * n, 7));
 * console.log(await pool.map((n: number) => n + 1, [1, 2, 3]));
 * // Output:
 * // 49
 * // [ 2, 3, 4 ]
 * ```
 *
 * @see {@link createPool}
 */
export class Pool<State = any> {
  /** @internal Fair turns for the pool's streams on its executor. */
  readonly dispatcher: Dispatcher;

  /** @internal use {@link createPool}. */
  constructor(options: PoolOptions<State> = {}) {
    if (options === null || typeof options !== 'object') {
      throw new TypeError(
        `Expected the pool options to be an object, got ${describeValue(options)}`,
      );
    }
    for (const key of Object.keys(options)) {
      if (!poolKeys.includes(key)) {
        throw new TypeError(
          `Unknown option \`${key}\` for createPool; the options are ${poolKeys.map((k) => `\`${k}\``).join(', ')}`,
        );
      }
    }
    if (options.executor !== undefined) {
      const given = defaultExecutorKeys.filter(
        (key) => (options as Record<string, unknown>)[key] !== undefined,
      );
      if (given.length > 0) {
        throw new TypeError(
          `${given.map((k) => `\`${k}\``).join(', ')} configure${given.length === 1 ? 's' : ''} the default executor: with \`executor\` given, configure your executor instead`,
        );
      }
      this.dispatcher = new Dispatcher(validateExecutor(options.executor));
      return;
    }
    const size = options.size ?? defaultSize();
    if (!(Number.isInteger(size) && size >= 1)) fail('size', 'an integer from 1 up', size);
    const runtime = options.runtime ?? 'thread';
    if (runtime !== 'thread' && runtime !== 'process') {
      fail('runtime', "`'thread'` or `'process'`", runtime);
    }
    const idleTimeout = options.idleTimeout ?? Infinity;
    if (typeof idleTimeout !== 'number' || !(idleTimeout >= 0)) {
      fail('idleTimeout', 'a number of ms from 0 up, or `Infinity`', idleTimeout);
    }
    const maxTasksPerWorker = options.maxTasksPerWorker ?? Infinity;
    if (
      !(Number.isInteger(maxTasksPerWorker) && maxTasksPerWorker >= 1) &&
      maxTasksPerWorker !== Infinity
    ) {
      fail('maxTasksPerWorker', 'an integer from 1 up or `Infinity`', maxTasksPerWorker);
    }
    const maxHeapMb = options.maxHeapMb;
    if (maxHeapMb !== undefined && !(Number.isInteger(maxHeapMb) && maxHeapMb >= 8)) {
      fail('maxHeapMb', 'an integer number of MB from 8 up', maxHeapMb);
    }
    const env = options.env === undefined ? undefined : validateEnv(options.env);
    const abortGrace = options.abortGrace ?? DEFAULT_ABORT_GRACE_MS;
    if (!(typeof abortGrace === 'number' && abortGrace >= 0 && abortGrace <= MAX_TIMER_MS)) {
      fail('abortGrace', 'a number of ms from 0 up to 2147483647', abortGrace);
    }
    const setup = options.setup === undefined ? undefined : toWorkSpec(options.setup, '`setup`');
    const teardown =
      options.teardown === undefined ? undefined : toWorkSpec(options.teardown, '`teardown`');
    const { recycleMemoryMb } = options;
    if (
      recycleMemoryMb !== undefined &&
      !(typeof recycleMemoryMb === 'number' && recycleMemoryMb > 0 && recycleMemoryMb < Infinity)
    ) {
      fail('recycleMemoryMb', 'a number of MB above 0', recycleMemoryMb);
    }
    this.dispatcher = new Dispatcher(
      (runtime === 'process' ? processExecutor : threadExecutor)({
        size,
        idleTimeout,
        maxTasksPerWorker,
        setup,
        maxHeapMb,
        env,
        abortGrace,
        teardown,
        recycleMemoryMb,
      }),
    );
  }

  /**
   * Runs `work` on one item and resolves with its result (Python's `apply_async`).
   *
   * _Call a function on another thread and await what it returns._
   *
   * Rejects with a {@link TaskError} when the item fails for good (after its retries), or with
   * an {@link AbortError} (the signal's `reason` as its `cause`) when `signal` fires.
   *
   * ## Example
   * ```ts
   * const pool = createPool();
   * console.log(await pool.run((n: number) => n * n, 7));
   * // Output:
   * // 49
   * ```
   *
   * @param work A {@link task} reference or a self-contained function.
   * @param input The item, sent to the worker by structured clone.
   * @param options See {@link RunOptions}.
   * @returns The result, awaited when `work` returns a promise.
   */
  run<In, Out>(
    work: Work<In, Out, State>,
    input: In,
    options?: RunOptions<In>,
  ): Promise<Awaited<Out>> {
    const resolved = resolveRun<In>(work, options);
    return new Promise((resolve, reject) => {
      const { signal } = resolved;
      if (signal?.aborted) {
        reject(abortedBy(signal));
        return;
      }
      let result: Awaited<Out>;
      const onAbort = () => {
        engine.cancel();
        reject(abortedBy(signal!));
      };
      const engine = new Engine<In, Awaited<Out>>(resolved.config, this.dispatcher, realClock, {
        value: (value) => {
          result = value;
        },
        failure: reject,
        error: reject,
        complete: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(result);
        },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      engine.push(input);
      engine.end();
    });
  }

  /**
   * Runs `work` over every item and resolves with all results in input order (Python's `map`).
   *
   * _`Array.prototype.map` on every core, awaited as one array._
   *
   * Rejects with the first failed item's {@link TaskError}, and stops the rest; if `items`
   * throws, rejects with what it threw once the items read before have run. Results are
   * collected in memory; to stream them, or for `ordered: false`, use {@link Pool.imap}.
   *
   * ## Example
   * ```ts
   * console.log(await pool.map((n: number) => n * 2, [1, 2, 3]));
   * // Output:
   * // [ 2, 4, 6 ]
   * ```
   *
   * @see {@link Pool.imap}
   * @param work A {@link task} reference or a self-contained function.
   * @param items Any `Iterable` or `AsyncIterable` (an array, a generator, an object-mode
   *   `Readable`).
   * @param options See {@link MapOptions}: those of {@link ParallelOptions} but `pool`, and
   *   `ordered` only as `true`.
   * @returns Every result, in input order.
   */
  map<In, Out>(
    work: Work<In, Out, State>,
    items: Iterable<In> | AsyncIterable<In>,
    options?: MapOptions<In>,
  ): Promise<Awaited<Out>[]> {
    return this.collect<In, Awaited<Out>>(work, items, options, 'pool.map', false);
  }

  /**
   * Runs `work` with each item's arguments spread into the call, `work(...args)`, and resolves
   * with all results in input order (Python's `starmap`).
   *
   * _{@link Pool.map} for a function of several arguments: each item is the array of them._
   *
   * The same options and failures as {@link Pool.map}. An item that is not an array fails alone,
   * with a {@link TaskError} whose cause is a `TypeError` that says what came (Python raises a
   * `TypeError` for it too); it is not retried.
   *
   * ## Example
   * ```ts
   * console.log(await pool.starmap((a: number, b: number) => a ** b, [[2, 3], [10, 2]]));
   * const add = task<[number, number], number>(new URL('./math.js', import.meta.url), 'add');
   * console.log(await pool.starmap(add, [[1, 2], [3, 4]]));
   * // Output:
   * // [ 8, 100 ]
   * // [ 3, 7 ]
   * ```
   *
   * @see {@link Pool.map}
   * @param work A {@link task} reference or a self-contained function of several arguments; see
   *   {@link StarWork}.
   * @param argLists Any `Iterable` or `AsyncIterable` of argument arrays, read lazily.
   * @param options See {@link MapOptions}, as for {@link Pool.map}.
   * @returns Every result, in input order.
   */
  starmap<Args extends readonly unknown[], Out>(
    work: Task<Args, Out, State> | ((...args: Args) => Out | Promise<Out>),
    argLists: Iterable<Args> | AsyncIterable<Args>,
    options?: MapOptions<Args>,
  ): Promise<Awaited<Out>[]>;
  /** `work(...args, context)`: a function that reads its {@link TaskContext} after the arguments. */
  starmap<Args extends readonly unknown[], Out>(
    work: (...args: [...Args, TaskContext<State>]) => Out | Promise<Out>,
    argLists: Iterable<Args> | AsyncIterable<Args>,
    options?: MapOptions<Args>,
  ): Promise<Awaited<Out>[]>;
  starmap<Args extends readonly unknown[], Out>(
    work: StarWork<Args, Out, State>,
    argLists: Iterable<Args> | AsyncIterable<Args>,
    options?: MapOptions<Args>,
  ): Promise<Awaited<Out>[]> {
    return this.collect<Args, Awaited<Out>>(work, argLists, options, 'pool.starmap', true);
  }

  /** `map` and `starmap`: every result in input order, in an array. */
  private async collect<In, Out>(
    work: unknown,
    items: Iterable<In> | AsyncIterable<In>,
    options: MapOptions<In> | undefined,
    where: string,
    spread: boolean,
  ): Promise<Out[]> {
    // For JavaScript callers: in TypeScript, `ordered: false` does not type-check here.
    if ((options as ParallelOptions<In> | undefined)?.ordered === false) {
      throw new TypeError(
        `${where} returns results in input order; use pool.imap for \`ordered: false\``,
      );
    }
    const resolved = this.resolveIterable(work, items, options, where, spread);
    const results: Out[] = [];
    for await (const value of engineIterable<In, Out>(
      items,
      resolved,
      () => this.dispatcher,
      realClock,
    )) {
      results.push(value);
    }
    return results;
  }

  /**
   * Runs `work` over `items` and yields the results as they are ready: in input order by default
   * (Python's `imap`), in completion order with `{ ordered: false }` (`imap_unordered`).
   *
   * _A lazy, parallel `map` for `for await`: it pulls its input only as fast as results go out._
   *
   * It reads `items` only while fewer than `concurrency` items are held (a result waits in that
   * window until the loop asks for it), so an endless input or a large file streams in constant
   * memory; a synchronous input is read in slices of about 1 ms, so results come out while the
   * window fills. It closes the input when the loop stops early (`break`, `return`, a throw). The
   * loop throws the first failed item's {@link TaskError}. If `items` throws, the results of the
   * items read before come out first, then the loop throws what `items` threw (Python's `imap`).
   *
   * ## Example
   * ```ts
   * for await (const square of pool.imap((n: number) => n * n, [1, 2, 3])) console.log(square);
   * // Output:
   * // 1
   * // 4
   * // 9
   * ```
   *
   * @see {@link Pool.map}
   * @param work A {@link task} reference or a self-contained function.
   * @param items Any `Iterable` or `AsyncIterable` (an array, a generator, an object-mode
   *   `Readable`), read lazily.
   * @param options See {@link ParallelOptions}; `pool` is not accepted.
   * @returns The results, in input order or, with `ordered: false`, as they finish.
   */
  imap<In, Out>(
    work: Work<In, Out, State>,
    items: Iterable<In> | AsyncIterable<In>,
    options?: ParallelOptions<In>,
  ): AsyncIterableIterator<Awaited<Out>> {
    const resolved = this.resolveIterable(work, items, options, 'pool.imap');
    return engineIterable<In, Awaited<Out>>(items, resolved, () => this.dispatcher, realClock);
  }

  /**
   * {@link Pool.imap}, yielding every item as a {@link Settled} value: a failed item takes its
   * place in the output instead of ending the loop (what `parallelSettle` is to
   * `parallelMap`).
   *
   * _A lazy, parallel `map` that goes on past failures, for `for await`._
   *
   * It pulls `items` as {@link Pool.imap} does, so a stream that must not stop at a bad item
   * (a file of records, some invalid) runs in constant memory. If `items` throws, every item read
   * before comes out, then the loop throws what `items` threw.
   *
   * ## Example
   * ```ts
   * const half = (n: number) => {
   *   if (n % 2) throw new Error(`${n} is odd`);
   *   return n / 2;
   * };
   * for await (const s of pool.imapSettled(half, [2, 3, 4])) {
   *   console.log(s.ok ? s.value : s.error.cause.message);
   * }
   * // Output:
   * // 1
   * // 3 is odd
   * // 2
   * ```
   *
   * @see {@link Pool.imap}
   * @param work A {@link task} reference or a self-contained function.
   * @param items Any `Iterable` or `AsyncIterable`, read lazily.
   * @param options See {@link ParallelOptions}; `pool` is not accepted.
   * @returns Every item's {@link Settled} outcome, in input order or, with `ordered: false`, as
   *   they finish.
   */
  imapSettled<In, Out>(
    work: Work<In, Out, State>,
    items: Iterable<In> | AsyncIterable<In>,
    options?: ParallelOptions<In>,
  ): AsyncIterableIterator<Settled<In, Awaited<Out>>> {
    return engineIterable<In, Awaited<Out>, Settled<In, Awaited<Out>>>(
      items,
      this.resolveIterable(work, items, options, 'pool.imapSettled'),
      () => this.dispatcher,
      realClock,
      true,
    );
  }

  /** @internal {@link Pool.imapSettled} with each item's arguments spread into the call (`starmap`). */
  [imapSettledSpread]<In, Out>(
    work: Work<In, Out>,
    items: Iterable<In> | AsyncIterable<In>,
    options?: ParallelOptions<In>,
  ): AsyncIterableIterator<Settled<In, Awaited<Out>>> {
    return engineIterable<In, Awaited<Out>, Settled<In, Awaited<Out>>>(
      items,
      this.resolveIterable(work, items, options, 'pool.starmap', true),
      () => this.dispatcher,
      realClock,
      true,
    );
  }

  /**
   * Runs `work` over `items`, where the work gives many values per item (a generator, an array, an
   * iterable, an Observable), and yields those values as they come: every value of item `i`
   * before any of item `i + 1` by default, as they arrive with `{ ordered: false }`.
   *
   * _What `parallelFlatMap` is, for `for await`: streamed values, backpressured, cancellable._
   *
   * Each value comes back while its item still runs. It pulls `items` as {@link Pool.imap} does,
   * and an item's iterator is not pulled in its worker while `highWaterMark` of its values wait on
   * this side, so a slow loop holds bounded memory. Breaking out of the loop (or `signal`) calls
   * `return()` on the running iterators in their workers; queued items never start. The loop
   * throws the first failed item's {@link TaskError}, after the values that item gave.
   *
   * ## Example
   * ```ts
   * const lines = (text: string) => text.split('\n');
   * for await (const line of pool.imapFlat(lines, ['a\nb', 'c'])) console.log(line);
   * // Output:
   * // a
   * // b
   * // c
   * ```
   *
   * @see {@link parallelFlatMap}
   * @param work A {@link task} reference or a self-contained function; see {@link FlatWork}.
   * @param items An `Iterable` or `AsyncIterable` of inputs.
   * @param options See {@link FlatOptions}; all but `pool`.
   * @returns The values of every item's work.
   */
  imapFlat<In, Out>(
    work: FlatWork<In, Out, State>,
    items: Iterable<In> | AsyncIterable<In>,
    options?: Omit<FlatOptions<In>, 'pool'>,
  ): AsyncIterableIterator<Out> {
    const resolved = this.resolveIterable(work, items, options, 'pool.imapFlat', false, true);
    return engineIterable<In, Out>(items, resolved, () => this.dispatcher, realClock);
  }

  /**
   * Validates the options of the iterating methods; an array's length is the progress total.
   * `spread`: each item is an array of arguments for the work (`starmap`).
   */
  private resolveIterable<In>(
    work: unknown,
    items: unknown,
    options: ParallelOptions<In> | undefined,
    where: string,
    spread = false,
    flat = false,
  ): Resolved<In> {
    if (options?.pool !== undefined) {
      throw new TypeError(
        `Unknown option \`pool\` for ${where}: it runs on the pool it is called on`,
      );
    }
    const resolved = resolveParallel<In>(work, options, where, flat);
    let { config } = resolved;
    if (spread) config = { ...config, work: { ...(config.work as WorkSpec), spread: true } };
    if (config.progress && config.total === undefined && Array.isArray(items)) {
      config = { ...config, total: items.length };
    }
    return config === resolved.config ? resolved : { ...resolved, config };
  }

  /**
   * Runs `work` once on every worker of the pool and resolves with one result per worker, in
   * `workerId` order.
   *
   * _Tell every worker something: reload a model, change a setting in its `state`._
   *
   * Workers are started up to `size` first, if fewer are alive (as Python's Pool starts all of
   * its workers). A worker busy with an item finishes it first (and the items it holds), then
   * runs `work`; items that come after see what `work` changed in the worker's `state`. `work`
   * gets `input` and the worker's {@link TaskContext}. When it fails in a worker, the promise
   * rejects with a {@link TaskError} whose `index` is that worker's place in `workerId` order.
   * Only the default executor has workers to name: on a pool with another (`rxpool/bullmq`, a
   * custom one) the promise rejects with a `TypeError` that says so.
   *
   * ## Example
   * ```ts
   * const pool = createPool({ size: 2, setup: () => ({ threshold: 0.5 }) });
   * await pool.broadcast((value: number, { state }) => {
   *   state.threshold = value;
   * }, 0.9);
   * console.log(await pool.broadcast((_: void, { state }) => state.threshold));
   * // Output:
   * // [ 0.9, 0.9 ]
   * ```
   *
   * @param work A {@link task} reference or a self-contained function, run once per worker.
   * @param input What `work` gets as its first argument (copied to every worker).
   * @returns One result per worker, in `workerId` order.
   */
  async broadcast<In, Out>(work: Work<In, Out, State>, input?: In): Promise<Awaited<Out>[]> {
    const { executor, closed } = this.dispatcher;
    if (!(executor instanceof TinypoolExecutor)) {
      throw new TypeError(
        "pool.broadcast runs work on each of the pool's own workers; this pool's executor " +
          '(rxpool/bullmq, or a custom one) has no workers it can name: run the work as items instead',
      );
    }
    if (closed) throw closed;
    const spec = toWorkSpec(work);
    const replies = await executor.broadcast(spec, input);
    const failed = replies.findIndex((reply) => reply.error !== undefined);
    if (failed >= 0) {
      throw new TaskError({
        index: failed,
        input,
        attempts: 1,
        cause: reviveError(replies[failed]!.error!),
      });
    }
    return replies.map((reply) => reply.value as Awaited<Out>);
  }

  /**
   * Counts of what the pool is doing and has done: workers busy, items queued, completed and
   * failed, utilization, throughput, and run and wait times.
   *
   * _A look inside the pool, to size it and to find the bottleneck._
   *
   * ## Example
   * ```ts
   * const pool = createPool();
   * await pool.map((n: number) => n * 2, [1, 2, 3]);
   * const { completed, failed, runTime } = pool.stats();
   * console.log(completed, failed, runTime.p50 >= 0);
   * // Output:
   * // 3 0 true
   * ```
   *
   * @returns A snapshot; see {@link PoolStats}.
   */
  stats(): PoolStats {
    const { dispatcher } = this;
    const { completed, since, runMs, size } = dispatcher;
    const elapsed = since === undefined ? 0 : performance.now() - since;
    return {
      size,
      busy: dispatcher.running(),
      queued: dispatcher.queued(),
      completed,
      failed: dispatcher.failedAttempts,
      utilization: elapsed > 0 ? Math.min(1, runMs / (size * elapsed)) : 0,
      throughput: elapsed > 0 ? (completed * 1000) / elapsed : 0,
      runTime: dispatcher.runTimes.percentiles(),
      waitTime: dispatcher.waitTimes.percentiles(),
    };
  }

  /**
   * Refuses new work, finishes what was accepted, then stops the workers (Python's `close` then
   * `join`).
   *
   * _Let the work in hand finish, then shut down._
   *
   * A closed pool refuses new work for good. When it is the {@link defaultPool}, the next call
   * that names no pool gets a fresh default pool. It waits for every stream under way, a
   * `for await` loop over {@link Pool.imap} included; a loop that awaits `close()` before it has
   * taken every result gets them after `close()` resolves (it resolves when nothing else is left
   * to wait for), and the workers stop once that loop is done.
   *
   * ## Example
   * ```ts
   * const pool = createPool();
   * const result = pool.run((n: number) => n + 1, 1);
   * await pool.close();
   * console.log(await result);
   * // Output:
   * // 2
   * ```
   *
   * @see {@link Pool.destroy}
   * @returns Resolves once every worker has stopped (or, see above, once only a loop that awaits
   *   it is left).
   */
  close(): Promise<void> {
    forget(this);
    return this.dispatcher.close();
  }

  /**
   * Stops now: pending work fails with an {@link AbortError}, and running tasks are stopped with
   * their workers (Python's `terminate`).
   *
   * _Shut down at once, without waiting for the work in hand._
   *
   * When it is the {@link defaultPool}, the next call that names no pool gets a fresh one.
   *
   * ## Example
   * ```ts
   * const pool = createPool();
   * const never = pool.run(() => new Promise(() => {}), null).catch((error) => error.name);
   * await pool.destroy();
   * console.log(await never);
   * // Output:
   * // AbortError
   * ```
   *
   * @see {@link Pool.close}
   * @returns Resolves once every worker has stopped.
   */
  destroy(): Promise<void> {
    forget(this);
    return this.dispatcher.destroy();
  }

  /**
   * Same as {@link Pool.close}, for `await using pool = createPool()`: the pool closes when the
   * scope ends.
   *
   * @returns Resolves once every worker has stopped.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Creates a pool of workers.
 *
 * _Python's `multiprocessing.Pool()`, on worker threads._
 *
 * The options are checked at once; the workers start on first use, so a pool costs nothing until
 * it gets work. Close it with {@link Pool.close} (or `await using`) when done; an idle pool never
 * keeps the process alive anyway.
 *
 * ## Example
 * ```ts
 * import { createPool } from 'rxpool';
 *
 * await using pool = createPool({ size: 4 });
 * console.log(await pool.map((n: number) => n + 1, [1, 2, 3]));
 * // Output:
 * // [ 2, 3, 4 ]
 * ```
 *
 * @see {@link defaultPool}
 * @param options See {@link PoolOptions}.
 * @returns A new {@link Pool}.
 */
export function createPool<State = any>(options?: PoolOptions<State>): Pool<State> {
  return new Pool<State>(options);
}

let shared: Pool | undefined;

/**
 * The shared default pool that every call naming no pool runs on.
 *
 * _The pool you get when you do not make one._
 *
 * Created on first use with default {@link PoolOptions} (`os.availableParallelism()` workers), and
 * never keeps the process alive: a script that uses `parallelMap` without creating a pool exits by
 * itself once its work is done. Every call returns the same pool until it is closed or destroyed;
 * the next call after that (or the next call that names no pool) makes a fresh one, while the old
 * pool, like any closed pool, refuses new work.
 *
 * ## Example
 * ```ts
 * import { defaultPool } from 'rxpool';
 *
 * console.log(await defaultPool().run((n: number) => n * n, 7));
 * console.log(defaultPool() === defaultPool());
 * const old = defaultPool();
 * await old.close();
 * console.log(defaultPool() === old, await defaultPool().run((n: number) => n + 1, 1));
 * // Output:
 * // 49
 * // true
 * // false 2
 * ```
 *
 * @see {@link createPool}
 * @returns The shared {@link Pool}.
 */
export function defaultPool(): Pool {
  shared ??= new Pool();
  return shared;
}

/** A closed or destroyed default pool is no longer the default: the next use makes a fresh one. */
function forget(pool: Pool): void {
  if (shared === pool) shared = undefined;
}

/** The longest delay of a timer (`setTimeout` fires at once past it). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Checks the `env` option: a plain object of strings; a copy is kept. */
function validateEnv(env: unknown): Record<string, string> {
  if (env === null || typeof env !== 'object' || Array.isArray(env)) {
    fail('env', 'an object of strings', env);
  }
  const copy: Record<string, string> = {};
  for (const [name, value] of Object.entries(env as object)) {
    if (typeof value !== 'string') fail(`env.${name}`, 'a string', value);
    copy[name] = value;
  }
  return copy;
}

/** Checks that `executor` implements {@link Executor}, with a clear message when it does not. */
function validateExecutor(executor: unknown): Executor {
  if (executor === null || typeof executor !== 'object') {
    fail('executor', 'an object that implements the Executor interface', executor);
  }
  const given = executor as Record<string, unknown>;
  for (const method of ['run', 'capacity', 'close', 'destroy']) {
    if (typeof given[method] !== 'function') {
      fail(`executor.${method}`, 'a function', given[method]);
    }
  }
  for (const method of ['onCapacity', 'stats']) {
    if (given[method] !== undefined && typeof given[method] !== 'function') {
      fail(`executor.${method}`, 'a function or `undefined`', given[method]);
    }
  }
  const { size, traits } = given;
  if (!(Number.isInteger(size) && (size as number) >= 1)) {
    fail('executor.size', 'an integer from 1 up', size);
  }
  if (traits === null || typeof traits !== 'object') {
    fail('executor.traits', 'an object (ExecutorTraits)', traits);
  }
  const t = traits as Record<string, unknown>;
  const { targetBatchMs, maxBatchBytes } = t;
  if (!(typeof targetBatchMs === 'number' && targetBatchMs > 0 && targetBatchMs < Infinity)) {
    fail('executor.traits.targetBatchMs', 'a number of ms above 0', targetBatchMs);
  }
  if (
    maxBatchBytes !== undefined &&
    !(Number.isInteger(maxBatchBytes) && (maxBatchBytes as number) >= 1)
  ) {
    fail(
      'executor.traits.maxBatchBytes',
      'an integer number of bytes from 1 up, or `undefined`',
      maxBatchBytes,
    );
  }
  for (const flag of ['enforcesTimeouts', 'knowsPosition']) {
    if (typeof t[flag] !== 'boolean') fail(`executor.traits.${flag}`, 'a boolean', t[flag]);
  }
  const { concurrency } = t;
  if (
    concurrency !== undefined &&
    !(Number.isInteger(concurrency) && (concurrency as number) >= 1) &&
    concurrency !== Infinity
  ) {
    fail(
      'executor.traits.concurrency',
      'an integer from 1 up, `Infinity` or `undefined`',
      concurrency,
    );
  }
  return executor as Executor;
}

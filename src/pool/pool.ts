/**
 * The Pool: Python's `multiprocessing.Pool` for Node.js, on worker threads by default. `run`, `map`,
 * `starmap` and `imap` are thin faces over the engine; the pool's Dispatcher gives the engines
 * turns on its executor, which runs the batches. Its options are checked in src/options.ts.
 */
import { realClock } from '../engine/clock.js';
import { Dispatcher } from '../executor/dispatcher.js';
import type { FlatOptions, MapOptions, ParallelOptions, RunOptions } from '../option-types.js';
import { resolveCollect, resolveIterable, resolvePool, resolveRun } from '../options.js';
import { DEFAULT_ABORT_GRACE_MS, defaultSize } from '../threads/executor.js';
import { processExecutor } from '../threads/process-executor.js';
import { threadExecutor } from '../threads/thread-executor.js';
import type { Settled } from '../types.js';
import { broadcast } from './broadcast.js';
import { engineIterable } from './imap.js';
import type { PoolOptions } from './pool-options.js';
import { collect, runOne } from './run.js';
import { type PoolStats, poolStats } from './stats.js';
import type { FlatWork, StarWork, Task, TaskContext, Work } from './task.js';

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
    const o = resolvePool(options);
    this.dispatcher = new Dispatcher(
      o.executor !== undefined
        ? o.executor
        : (o.runtime === 'process' ? processExecutor : threadExecutor)({
            size: o.size ?? defaultSize(),
            idleTimeout: o.idleTimeout,
            maxTasksPerWorker: o.maxTasksPerWorker,
            setup: o.setup,
            maxHeapMb: o.maxHeapMb,
            env: o.env,
            abortGrace: o.abortGrace ?? DEFAULT_ABORT_GRACE_MS,
            teardown: o.teardown,
            recycleMemoryMb: o.recycleMemoryMb,
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
    return runOne<In, Awaited<Out>>(resolveRun<In>(work, options), input, this.dispatcher);
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
  async map<In, Out>(
    work: Work<In, Out, State>,
    items: Iterable<In> | AsyncIterable<In>,
    options?: MapOptions<In>,
  ): Promise<Awaited<Out>[]> {
    // In an async method: a bad option rejects the promise, as a failed item does.
    const resolved = resolveCollect(work, items, options, 'pool.map', false);
    return collect<In, Awaited<Out>>(items, resolved, () => this.dispatcher);
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
  async starmap<Args extends readonly unknown[], Out>(
    work: StarWork<Args, Out, State>,
    argLists: Iterable<Args> | AsyncIterable<Args>,
    options?: MapOptions<Args>,
  ): Promise<Awaited<Out>[]> {
    const resolved = resolveCollect(work, argLists, options, 'pool.starmap', true);
    return collect<Args, Awaited<Out>>(argLists, resolved, () => this.dispatcher);
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
    const resolved = resolveIterable(work, items, options, 'pool.imap');
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
      resolveIterable(work, items, options, 'pool.imapSettled'),
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
      resolveIterable(work, items, options, 'pool.starmap', true),
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
    const resolved = resolveIterable(work, items, options, 'pool.imapFlat', false, true);
    return engineIterable<In, Out>(items, resolved, () => this.dispatcher, realClock);
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
  broadcast<In, Out>(work: Work<In, Out, State>, input?: In): Promise<Awaited<Out>[]> {
    return broadcast<Awaited<Out>>(this.dispatcher, work, input);
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
    return poolStats(this.dispatcher);
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

/**
 * The Pool: Python's `multiprocessing.Pool` for Node.js, on tinypool workers. `run`, `map` and
 * `imap` are thin faces over the engine; the executor runs the batches.
 */
import { realClock } from '../engine/clock.js';
import { Engine } from '../engine/engine.js';
import type { SlotExecutor } from '../engine/executor.js';
import type { Percentiles } from '../engine/samples.js';
import { AbortError } from '../errors.js';
import {
  fail,
  type ParallelOptions,
  type RunOptions,
  resolveParallel,
  resolveRun,
} from '../options.js';
import { defaultSize, type ExecutorCounters, TinypoolExecutor } from './executor.js';
import { engineIterable } from './imap.js';
import { describeValue, type Task, toWorkSpec, type Work } from './task.js';

/** Options of {@link createPool}. */
export interface PoolOptions {
  /** How many workers. @default os.availableParallelism() */
  readonly size?: number;
  /** Worker threads, or child processes. @default 'thread' */
  readonly runtime?: 'thread' | 'process';
  /** ms an idle worker is kept before it stops; `Infinity` keeps `size` workers. @default Infinity */
  readonly idleTimeout?: number;
  /** Replace a worker after it ran this many items (like `maxtasksperchild`). @default Infinity */
  readonly maxTasksPerWorker?: number;
  /** Runs once in every worker before its first item (like `initializer`). */
  readonly setup?: Task<void, unknown> | (() => unknown);
  /** A worker whose heap grows past this many MB dies and is replaced; its item fails. */
  readonly maxHeapMb?: number;
}

/** What {@link Pool.stats} reports. */
export interface PoolStats {
  /** Workers in the pool. */
  readonly size: number;
  /** Workers running a batch now. */
  readonly busy: number;
  /** Items waiting for a worker. */
  readonly queued: number;
  /** Items that ran and succeeded. */
  readonly completed: number;
  /** Attempts of items that failed (threw, timed out, crashed their worker). */
  readonly failed: number;
  /**
   * The share of the workers' time spent running items since the pool first got work, from 0 to
   * 1. Low with many small items means the main thread is the bottleneck; near 1, the workers.
   */
  readonly utilization: number;
  /** Items completed per second since the pool first got work. */
  readonly throughput: number;
  /** How long an item runs in a worker, in ms, over the last 1024 batches (per item within a batch). */
  readonly runTime: Percentiles;
  /** How long an item waits for a worker, in ms, over the last 1024 batches. */
  readonly waitTime: Percentiles;
}

/** What a Pool runs on: the tinypool executor, or another (an in-thread fake in the tests). */
export type PoolExecutor = SlotExecutor & {
  readonly running: number;
  readonly counters: ExecutorCounters;
  close(): Promise<void>;
  destroy(): Promise<void>;
};

const poolKeys = ['size', 'runtime', 'idleTimeout', 'maxTasksPerWorker', 'setup', 'maxHeapMb'];

/**
 * A pool of workers that runs {@link Work} over items, like Python's `multiprocessing.Pool`.
 *
 * Make one with {@link createPool}, or use the shared default pool that every call naming no pool
 * runs on. Workers start on first use and never keep the process alive while idle.
 */
export class Pool {
  /** @internal */
  readonly executor: PoolExecutor;

  /**
   * @internal use {@link createPool}.
   * @param executor Runs the batches instead of tinypool workers (for tests and other executors).
   */
  constructor(options: PoolOptions = {}, executor?: PoolExecutor) {
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
    const setup = options.setup === undefined ? undefined : toWorkSpec(options.setup, '`setup`');
    this.executor =
      executor ??
      new TinypoolExecutor({
        size,
        runtime,
        idleTimeout,
        maxTasksPerWorker,
        setup,
        maxHeapMb,
      });
  }

  /**
   * Runs one item (Python's `apply_async`).
   *
   * ## Example
   * ```ts
   * const pool = createPool();
   * console.log(await pool.run((n: number) => n * n, 7));
   * // Output: 49
   * ```
   */
  run<In, Out>(work: Work<In, Out>, input: In, options?: RunOptions<In>): Promise<Awaited<Out>> {
    const resolved = resolveRun<In>(work, options);
    return new Promise((resolve, reject) => {
      const { signal } = resolved;
      if (signal?.aborted) {
        reject(signal.reason ?? new AbortError());
        return;
      }
      let result: Awaited<Out>;
      const onAbort = () => {
        engine.cancel();
        reject(signal!.reason ?? new AbortError());
      };
      const engine = new Engine<In, Awaited<Out>>(resolved.config, this.executor, realClock, {
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
   * Rejects with the first failed item's `TaskError`.
   *
   * ## Example
   * ```ts
   * console.log(await pool.map((n: number) => n * 2, [1, 2, 3]));
   * // Output: [ 2, 4, 6 ]
   * ```
   */
  async map<In, Out>(
    work: Work<In, Out>,
    items: Iterable<In> | AsyncIterable<In>,
    options?: ParallelOptions<In>,
  ): Promise<Awaited<Out>[]> {
    if (options?.ordered === false) {
      throw new TypeError(
        'pool.map returns results in input order; use pool.imap for `ordered: false`',
      );
    }
    const results: Awaited<Out>[] = [];
    for await (const value of this.imap(work, items, options)) results.push(value);
    return results;
  }

  /**
   * Runs `work` over `items` and yields the results as they are ready: in input order by default
   * (Python's `imap`), in completion order with `{ ordered: false }` (`imap_unordered`). It reads
   * `items` only while fewer than `concurrency` items are held, so an endless input is fine; it
   * closes the input when the loop stops early.
   *
   * ## Example
   * ```ts
   * for await (const square of pool.imap((n: number) => n * n, [1, 2, 3])) console.log(square);
   * // Output: 1, then 4, then 9
   * ```
   */
  imap<In, Out>(
    work: Work<In, Out>,
    items: Iterable<In> | AsyncIterable<In>,
    options?: ParallelOptions<In>,
  ): AsyncIterableIterator<Awaited<Out>> {
    if (options?.pool !== undefined) {
      throw new TypeError(
        'Unknown option `pool` for pool.imap: it runs on the pool it is called on',
      );
    }
    let resolved = resolveParallel<In>(work, options, 'pool.imap');
    if (resolved.config.progress && resolved.config.total === undefined && Array.isArray(items)) {
      resolved = { ...resolved, config: { ...resolved.config, total: items.length } };
    }
    return engineIterable<In, Awaited<Out>>(items, resolved, () => this.executor, realClock);
  }

  /** Counts of what the pool is doing and has done. */
  stats(): PoolStats {
    const { executor } = this;
    const { completed, failed, since, runMs } = executor.counters;
    const elapsed = since === undefined ? 0 : performance.now() - since;
    return {
      size: executor.size,
      busy: executor.running,
      queued: executor.queued(),
      completed,
      failed,
      utilization: elapsed > 0 ? Math.min(1, runMs / (executor.size * elapsed)) : 0,
      throughput: elapsed > 0 ? (completed * 1000) / elapsed : 0,
      runTime: executor.runTimes.percentiles(),
      waitTime: executor.waitTimes.percentiles(),
    };
  }

  /** Refuses new work, finishes what was accepted, then stops the workers (`close` + `join`). */
  close(): Promise<void> {
    return this.executor.close();
  }

  /** Stops now: pending work fails with an `AbortError` (`terminate`). */
  destroy(): Promise<void> {
    return this.executor.destroy();
  }

  /** Same as {@link Pool.close}, for `await using pool = createPool()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Creates a pool of workers.
 *
 * ## Example
 * ```ts
 * await using pool = createPool({ size: 4 });
 * console.log(await pool.map((n: number) => n + 1, [1, 2, 3]));
 * // Output: [ 2, 3, 4 ]
 * ```
 */
export function createPool(options?: PoolOptions): Pool {
  return new Pool(options);
}

let shared: Pool | undefined;

/**
 * The shared default pool that every call naming no pool runs on: created on first use, sized to
 * `os.availableParallelism()`, and never keeps the process alive.
 */
export function defaultPool(): Pool {
  shared ??= new Pool();
  return shared;
}

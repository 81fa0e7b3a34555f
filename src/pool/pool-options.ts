/**
 * The options of {@link createPool}: their type and documentation. src/options.ts checks them.
 */
import type { Executor } from '../executor/contract.js';
import type { Task, TaskContext } from './task.js';

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

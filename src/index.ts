/**
 * Python's `multiprocessing.Pool` for reactive Node.js: an ordered, backpressured parallel map for
 * RxJS on worker threads, and a Pool with `run`, `map` and `imap`.
 *
 * _Everything: the Pool, `task` and `move`, the errors, the types, and the RxJS operators too._
 *
 * ## Example
 * ```ts
 * import { createPool } from 'rxpool';
 *
 * await using pool = createPool({ size: 4 });
 * console.log(await pool.map((n: number) => n * n, [1, 2, 3]));
 * // Output:
 * // [ 1, 4, 9 ]
 * ```
 *
 * @module rxpool
 */
// The operators come from their own files, not from the barrel operators/index.ts, which imports
// rxjs: through these they load rxjs only when one is called (operators/rx.ts).
export { parallelFlatMap } from '../operators/parallelFlatMap.js';
export { parallelFlatSettle } from '../operators/parallelFlatSettle.js';
export { parallelMap } from '../operators/parallelMap.js';
export { parallelSettle } from '../operators/parallelSettle.js';
export { recoverFailures } from '../operators/recoverFailures.js';
export { routeFailures } from '../operators/routeFailures.js';
export { skipFailures } from '../operators/skipFailures.js';
export { throwFailures } from '../operators/throwFailures.js';
export { DEFAULT_HIGH_WATER_MARK } from './engine/flat.js';
export type { Progress } from './engine/progress.js';
export type { RetryConfig } from './engine/retry.js';
export type { TaskErrorDetails } from './errors.js';
export { AbortError, TaskError, TaskTimeoutError, WorkerCrashedError } from './errors.js';
export type {
  BatchOutcome,
  Executor,
  ExecutorBatch,
  ExecutorTraits,
  FlatBatch,
  FlatEnd,
  ItemFailure,
  ItemSpan,
  RunningBatch,
  TraceCarrier,
  ValuesListener,
  WorkSpec,
} from './executor/contract.js';
export type { Percentiles } from './executor/histogram.js';
export type { ItemTrace } from './executor/item-channel.js';
export { ITEM_CHANNEL } from './executor/item-channel.js';
export type { FlatOptions, MapOptions, ParallelOptions, RunOptions } from './option-types.js';
export { DEFAULT_CONCURRENCY } from './options.js';
export { defaultPool } from './pool/default-pool.js';
export { createPool, Pool } from './pool/pool.js';
export type { PoolOptions } from './pool/pool-options.js';
export type { PoolStats } from './pool/stats.js';
export type {
  FlatResult,
  FlatWork,
  StarWork,
  SubscribableValues,
  TaskContext,
  Work,
} from './pool/task.js';
export { Task, task, taskSignature } from './pool/task.js';
export type { Failure, Settled, Success, Transferable } from './types.js';
export { move } from './wire/move.js';

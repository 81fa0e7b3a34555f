export {
  parallelMap,
  parallelSettle,
  recoverFailures,
  routeFailures,
  skipFailures,
  throwFailures,
} from '../operators/index.js';
export type { Progress } from './engine/progress.js';
export type { RetryConfig } from './engine/retry.js';
export type { Percentiles } from './engine/samples.js';
export type { TaskErrorDetails } from './errors.js';
export { AbortError, TaskError, TaskTimeoutError, WorkerCrashedError } from './errors.js';
export type { ParallelOptions, RunOptions } from './options.js';
export { DEFAULT_CONCURRENCY } from './options.js';
export { move } from './pool/move.js';
export type { PoolOptions, PoolStats } from './pool/pool.js';
export { createPool, defaultPool, Pool } from './pool/pool.js';
export type { Work } from './pool/task.js';
export { Task, task } from './pool/task.js';
export type { Failure, Settled, Success } from './types.js';

/**
 * What `pool.stats()` reports, read from the pool's Dispatcher, which counts as batches return.
 */

import type { Dispatcher } from '../executor/dispatcher.js';
import type { Percentiles } from '../executor/histogram.js';

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

/** A snapshot of `dispatcher`'s counts, with utilization and throughput since its first work. */
export function poolStats(dispatcher: Dispatcher): PoolStats {
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

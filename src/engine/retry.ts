/**
 * The `retry` option: its public config, and the policy the engine follows (waits and `retryIf`).
 */
import type { TaskError } from '../errors.js';

/**
 * The `retry` option in full: how many times, how long to wait between attempts, and which
 * failures to try again.
 *
 * _Try a failed item again, after a pause that can grow, when the failure is worth it._
 *
 * A failed attempt (the task threw, timed out, or its worker crashed) is tried again until
 * `count` retries have run, unless `retryIf` says no. Failures that cannot succeed (a value that
 * cannot be cloned, a failed `setup`, a `pool.starmap` item that is not an array) are never
 * retried, nor is an item whose `transfer` buffers went with the failed attempt (its `cause` is
 * what that attempt threw). The item counts as failed only after its last attempt;
 * {@link TaskError.attempts} tells how many ran. A number `n` as the `retry` option is
 * `{ count: n }`.
 *
 * ## Example
 * ```ts
 * // Two retries, after 100 then 200 ms; none for a RangeError.
 * const retry: RetryConfig = {
 *   count: 2,
 *   delay: 100,
 *   backoff: 'exponential',
 *   retryIf: (error) => error.cause.name !== 'RangeError',
 * };
 * const busy = () => {
 *   throw new Error('busy');
 * };
 * await pool.run(busy, null, { retry }).catch((error: TaskError) => console.log(error.message));
 * // Output:
 * // Item 0 failed after 3 attempts: Error: busy
 * ```
 *
 * @see {@link ParallelOptions.retry}
 */
export interface RetryConfig {
  /** Attempts after the first: an integer from 0 up. Required: there is no default. */
  readonly count: number;
  /**
   * The wait before a retry, in ms, from 0 up: every wait for `'fixed'`, the first for
   * `'exponential'`.
   *
   * @default 0
   */
  readonly delay?: number;
  /**
   * How the wait grows: `'fixed'`, every wait is `delay`; `'exponential'`, the waits are `delay`,
   * `2 × delay`, `4 × delay`... up to `maxDelay`.
   *
   * @default 'fixed'
   */
  readonly backoff?: 'fixed' | 'exponential';
  /**
   * The longest wait, in ms, from 0 up: caps the `'exponential'` waits.
   *
   * @default Infinity
   */
  readonly maxDelay?: number;
  /**
   * Whether this failure is worth another attempt. Called with the attempt's error and the
   * number of attempts that ran so far (1 after the first); a retry runs only when it returns
   * `true` and `count` is not spent.
   *
   * @default `undefined`: every failure that can succeed is retried
   */
  readonly retryIf?: (error: TaskError<any>, attempt: number) => boolean;
}

/** The engine's form of the `retry` option. */
export interface RetryPolicy {
  readonly count: number;
  /** The wait before the attempt that follows failed attempt number `attempt` (1-based). */
  delay(attempt: number): number;
  retryIf(error: TaskError<any>, attempt: number): boolean;
}

export const noRetry: RetryPolicy = { count: 0, delay: () => 0, retryIf: () => false };

/** Builds the policy from a validated option. */
export function retryPolicy(option: number | RetryConfig | undefined): RetryPolicy {
  if (option === undefined || option === 0) return noRetry;
  if (typeof option === 'number') return { count: option, delay: () => 0, retryIf: () => true };
  const base = option.delay ?? 0;
  const maxDelay = option.maxDelay ?? Number.POSITIVE_INFINITY;
  const exponential = option.backoff === 'exponential';
  const retryIf = option.retryIf;
  return {
    count: option.count,
    delay: (attempt) => Math.min(maxDelay, exponential ? base * 2 ** (attempt - 1) : base),
    retryIf: retryIf ? (error, attempt) => Boolean(retryIf(error, attempt)) : () => true,
  };
}

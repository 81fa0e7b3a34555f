import type { TaskError } from '../errors.js';

/** The `retry` option in full. */
export interface RetryConfig {
  /** Attempts after the first. */
  readonly count: number;
  /** Wait before a retry, in ms: the first wait for `'exponential'`, every wait for `'fixed'`. @default 0 */
  readonly delay?: number;
  /** `'fixed'`: every wait is `delay`; `'exponential'`: `delay`, `2 × delay`, `4 × delay`... @default 'fixed' */
  readonly backoff?: 'fixed' | 'exponential';
  /** The longest wait, in ms. @default Infinity */
  readonly maxDelay?: number;
  /** Whether this failure is worth another attempt. @default every failure that can succeed */
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

/**
 * The `skipFailures` operator: a `Settled` stream's values, with its failures dropped.
 */
import type { OperatorFunction } from 'rxjs';
import type { Failure, Settled } from '../src/types.js';
import { rx } from './rx.js';

/**
 * Emits the values of a {@link Settled} stream and drops its failures, reporting each to
 * `onFailure`.
 *
 * _Keep the results that worked; note and forget the rest._
 *
 * ## Example
 * ```ts
 * import { of } from 'rxjs';
 * import { parallelSettle, skipFailures } from 'rxpool/operators';
 *
 * of('1', 'x', '3')
 *   .pipe(
 *     parallelSettle((s: string) => JSON.parse(s)),
 *     skipFailures((f) => console.log(`skipped #${f.index}`)),
 *   )
 *   .subscribe((n) => console.log(n));
 * // Output:
 * // 1
 * // skipped #1
 * // 3
 * ```
 *
 * @see {@link routeFailures}
 * @see {@link parallelSettle}
 * @param onFailure Called on the main thread with each dropped {@link Failure}; by default,
 *   failures are dropped silently.
 * @returns An operator from {@link Settled} values to the values of the successes.
 */
export function skipFailures<In, Out>(
  onFailure?: (failure: Failure<In>) => void,
): OperatorFunction<Settled<In, Out>, Out> {
  const { filter, map, pipe, tap } = rx();
  return pipe(
    tap((settled: Settled<In, Out>) => {
      if (!settled.ok) onFailure?.(settled);
    }),
    filter((settled): settled is Extract<Settled<In, Out>, { ok: true }> => settled.ok),
    map((settled) => settled.value),
  );
}

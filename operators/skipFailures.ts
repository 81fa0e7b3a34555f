import { filter, map, type OperatorFunction, pipe, tap } from 'rxjs';
import type { Failure, Settled } from '../src/types.js';

/**
 * Emits the values of a `Settled` stream and drops its failures, reporting each to `onFailure`.
 *
 * ## Example
 * ```ts
 * source.pipe(parallelSettle(parse), skipFailures((f) => console.warn(f.index, f.error.message)));
 * ```
 *
 * @see parallelSettle
 * @param onFailure Called with each dropped failure.
 */
export function skipFailures<In, Out>(
  onFailure?: (failure: Failure<In>) => void,
): OperatorFunction<Settled<In, Out>, Out> {
  return pipe(
    tap((settled: Settled<In, Out>) => {
      if (!settled.ok) onFailure?.(settled);
    }),
    filter((settled): settled is Extract<Settled<In, Out>, { ok: true }> => settled.ok),
    map((settled) => settled.value),
  );
}

import { map, type OperatorFunction } from 'rxjs';
import type { Failure, Settled } from '../src/types.js';

/**
 * Emits the values of a `Settled` stream, with `fallback(failure)` in place of each failure.
 *
 * ## Example
 * ```ts
 * of(1, 0, 2).pipe(parallelSettle(divideTenBy), recoverFailures(() => NaN)).subscribe(console.log);
 * // Output: 10, NaN, 5
 * ```
 *
 * @param fallback The value to emit for a failed item.
 */
export function recoverFailures<In, Out, R = Out>(
  fallback: (failure: Failure<In>) => R,
): OperatorFunction<Settled<In, Out>, Out | R> {
  if (typeof fallback !== 'function') {
    throw new TypeError(
      `Expected \`fallback\` to be a function (failure) => value, got ${typeof fallback}`,
    );
  }
  return map((settled) => (settled.ok ? settled.value : fallback(settled)));
}

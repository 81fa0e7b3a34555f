/**
 * The `recoverFailures` operator: a fallback value in place of each failure of a `Settled` stream.
 */
import type { OperatorFunction } from 'rxjs';
import type { Failure, Settled } from '../src/types.js';
import { rx } from './rx.js';

/**
 * Emits the values of a {@link Settled} stream, with `fallback(failure)` in place of each failure.
 *
 * _Replace each failed item with a value of your choice, and go on._
 *
 * Every item gives one value, in the order {@link parallelSettle} emits them. `fallback` runs on
 * the main thread; if it throws, the stream errors with what it threw.
 *
 * ## Example
 * ```ts
 * import { of } from 'rxjs';
 * import { parallelSettle, recoverFailures } from 'rxpool/operators';
 *
 * const divide = (n: number) => {
 *   if (n === 0) throw new Error('zero');
 *   return 10 / n;
 * };
 * of(1, 0, 2)
 *   .pipe(parallelSettle(divide), recoverFailures(() => NaN))
 *   .subscribe((x) => console.log(x));
 * // Output:
 * // 10
 * // NaN
 * // 5
 * ```
 *
 * @see {@link skipFailures}
 * @param fallback Gives the value to emit for a failed item, from its {@link Failure}.
 * @returns An operator from {@link Settled} values to values and fallbacks.
 */
export function recoverFailures<In, Out, R = Out>(
  fallback: (failure: Failure<In>) => R,
): OperatorFunction<Settled<In, Out>, Out | R> {
  if (typeof fallback !== 'function') {
    throw new TypeError(
      `Expected \`fallback\` to be a function (failure) => value, got ${typeof fallback}`,
    );
  }
  return rx().map((settled: Settled<In, Out>) => (settled.ok ? settled.value : fallback(settled)));
}

/**
 * The `throwFailures` operator: a `Settled` stream's values; its first failure errors the stream.
 */
import type { OperatorFunction } from 'rxjs';
import type { Settled } from '../src/types.js';
import { rx } from './rx.js';

/**
 * Emits the values of a {@link Settled} stream; the first failure errors the stream with its
 * {@link TaskError}.
 *
 * _Turn failures back into errors, after handling some of them upstream._
 *
 * `parallelSettle(work)` + `throwFailures()` behaves as `parallelMap(work)`. It is useful after
 * operators that look at the {@link Settled} values first (to count, log or filter failures).
 *
 * ## Example
 * ```ts
 * import { of } from 'rxjs';
 * import { parallelSettle, throwFailures } from 'rxpool/operators';
 *
 * of('1', 'x', '3')
 *   .pipe(parallelSettle((s: string) => JSON.parse(s)), throwFailures())
 *   .subscribe({
 *     next: (n) => console.log(n),
 *     error: (e) => console.log(`item ${e.index} failed: ${e.cause.name}`),
 *   });
 * // Output:
 * // 1
 * // item 1 failed: SyntaxError
 * ```
 *
 * @see {@link parallelMap}
 * @returns An operator from {@link Settled} values to the values of the successes.
 */
export function throwFailures<In, Out>(): OperatorFunction<Settled<In, Out>, Out> {
  return rx().map((settled: Settled<In, Out>) => {
    if (!settled.ok) throw settled.error;
    return settled.value;
  });
}

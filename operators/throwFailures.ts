import { map, type OperatorFunction } from 'rxjs';
import type { Settled } from '../src/types.js';

/**
 * Emits the values of a `Settled` stream; the first failure errors the stream with its
 * `TaskError`. `parallelSettle(work)` + `throwFailures()` behaves as `parallelMap(work)`.
 *
 * ## Example
 * ```ts
 * source.pipe(parallelSettle(work), throwFailures()).subscribe({ error: (e) => console.log(e.index) });
 * ```
 *
 * @see parallelMap
 */
export function throwFailures<In, Out>(): OperatorFunction<Settled<In, Out>, Out> {
  return map((settled) => {
    if (!settled.ok) throw settled.error;
    return settled.value;
  });
}

/**
 * The `parallelFlatSettle` operator: `parallelFlatMap` with every value and failure as a
 * `Settled` record; a thin face over the engine.
 */
import type { OperatorFunction } from 'rxjs';
import type { FlatOptions } from '../src/option-types.js';
import type { FlatWork } from '../src/pool/task.js';
import type { Settled } from '../src/types.js';
import { engineOperator } from './internal.js';

/**
 * {@link parallelFlatMap}, emitting a {@link Settled} record for each value, and one for each
 * item that fails, after the values it gave: the stream goes on past failures.
 *
 * _`parallelFlatMap` that reports failures as values, for `skipFailures`, `routeFailures`, ..._
 *
 * Each value of item `i` comes as `{ ok: true, index: i, input, value }`; an item that fails for
 * good (after its retries) adds `{ ok: false, index: i, input, error }` after its values, where
 * `error.emitted` says how many there were. The error operators ({@link skipFailures},
 * {@link recoverFailures}, {@link throwFailures}, {@link routeFailures}) work on it unchanged.
 *
 * ## Example
 * ```ts
 * import { of } from 'rxjs';
 * import { parallelFlatSettle, skipFailures } from 'rxpool/operators';
 *
 * of(2, -1, 1)
 *   .pipe(
 *     parallelFlatSettle(function* (n: number) {
 *       if (n < 0) throw new RangeError('negative');
 *       for (let i = 0; i < n; i++) yield i;
 *     }),
 *     skipFailures((f) => console.log(`#${f.index}: ${f.error.cause.message}`)),
 *   )
 *   .subscribe((x) => console.log(x));
 * // Output:
 * // 0
 * // 1
 * // #1: negative
 * // 0
 * ```
 *
 * @see {@link parallelFlatMap}
 * @param work A {@link task} reference or a self-contained function; see {@link FlatWork}.
 * @param options See {@link FlatOptions}; all but `signal`.
 * @returns An operator that emits one {@link Settled} record per value, and per failed item.
 */
export function parallelFlatSettle<In, Out>(
  work: FlatWork<In, Out>,
  options?: Omit<FlatOptions<In>, 'signal'>,
): OperatorFunction<In, Settled<In, Out>> {
  return engineOperator<In, Out, Settled<In, Out>>(
    'parallelFlatSettle',
    work,
    options,
    (subscriber) => ({
      value: (value, index, input) => subscriber.next({ ok: true, index, input, value }),
      failure: (error) =>
        subscriber.next({ ok: false, index: error.index, input: error.input, error }),
    }),
    true,
  );
}

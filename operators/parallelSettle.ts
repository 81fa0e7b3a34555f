/**
 * The `parallelSettle` operator: `parallelMap` with every outcome emitted as a `Settled` value.
 */
import type { OperatorFunction } from 'rxjs';
import type { ParallelOptions } from '../src/option-types.js';
import type { Work } from '../src/pool/task.js';
import type { Settled } from '../src/types.js';
import { engineOperator } from './internal.js';

/**
 * Like {@link parallelMap}, but each item arrives as a {@link Settled} value:
 * `{ ok: true, index, input, value }` or `{ ok: false, index, input, error }`.
 *
 * _Parallel map where a failed item is a value in the stream, not the end of it._
 *
 * A failed item never fails the stream: it is emitted, in its place in the order, as a
 * {@link Failure} whose `error` is the item's {@link TaskError}. Pipe an error operator
 * ({@link skipFailures}, {@link throwFailures}, {@link recoverFailures}, {@link routeFailures}) to
 * decide what failures do, or test `ok` yourself. The stream still errors when the source errors.
 * Ordering, the window, retries and unsubscribing work as in {@link parallelMap}.
 *
 * ## Example
 * ```ts
 * import { of } from 'rxjs';
 * import { parallelSettle } from 'rxpool/operators';
 *
 * const divide = (n: number) => {
 *   if (n === 0) throw new Error('zero');
 *   return 10 / n;
 * };
 * of(1, 0, 2)
 *   .pipe(parallelSettle(divide))
 *   .subscribe((s) => console.log(s.ok ? s.value : `#${s.index} failed: ${s.error.cause.message}`));
 * // Output:
 * // 10
 * // #1 failed: zero
 * // 5
 * ```
 *
 * @see {@link parallelMap}
 * @param work A {@link task} reference or a self-contained function; see {@link Work}.
 * @param options See {@link ParallelOptions}; all but `signal`.
 * @returns An operator that emits one {@link Settled} value per source value.
 */
export function parallelSettle<In, Out>(
  work: Work<In, Out>,
  options?: Omit<ParallelOptions<In>, 'signal'>,
): OperatorFunction<In, Settled<In, Awaited<Out>>> {
  return engineOperator<In, Awaited<Out>, Settled<In, Awaited<Out>>>(
    'parallelSettle',
    work,
    options,
    (subscriber) => ({
      value: (value, index, input) => subscriber.next({ ok: true, index, input, value }),
      failure: (error) =>
        subscriber.next({ ok: false, index: error.index, input: error.input, error }),
    }),
  );
}

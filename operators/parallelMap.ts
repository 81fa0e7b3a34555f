/**
 * The `parallelMap` operator: an ordered parallel map on the pool; a thin face over the engine.
 */
import type { OperatorFunction } from 'rxjs';
import type { ParallelOptions } from '../src/option-types.js';
import type { Work } from '../src/pool/task.js';
import { engineOperator } from './internal.js';

/**
 * Maps each value of the source on a pool of workers, and emits the results in source order
 * (or in completion order with `ordered: false`).
 *
 * _Like `map`, but the function runs on other threads, several values at once, and order is kept._
 *
 * At most `concurrency` items are between the source and the output at once: running, waiting for
 * a worker, or finished and waiting for their turn. When an item fails for good (after its
 * retries), every earlier result is emitted first (ordered mode), then the stream errors with the
 * item's {@link TaskError} and the items after it are cancelled; in unordered mode it errors as
 * soon as the failure is final. It completes after the source completes and every item is out.
 * Unsubscribing stops everything it started: queued items never run, running ones are stopped
 * (their workers are replaced), and no timer is left behind. The pool stays usable after any
 * failure. The options are checked when `parallelMap` is called, before any subscription.
 *
 * ## Example
 * ```ts
 * import { range } from 'rxjs';
 * import { parallelMap } from 'rxpool/operators';
 *
 * range(1, 5)
 *   .pipe(parallelMap((n: number) => n * n))
 *   .subscribe((x) => console.log(x));
 * // Output:
 * // 1
 * // 4
 * // 9
 * // 16
 * // 25
 * ```
 *
 * @see {@link parallelSettle} to get failures as values instead of an error.
 * @see {@link Pool.imap} for the same over an iterable, without RxJS.
 * @param work A {@link task} reference or a self-contained function; see {@link Work}.
 * @param options See {@link ParallelOptions}; all but `signal`.
 * @returns An operator that emits each value's result, awaited when the work returns a promise.
 */
export function parallelMap<In, Out>(
  work: Work<In, Out>,
  options?: Omit<ParallelOptions<In>, 'signal'>,
): OperatorFunction<In, Awaited<Out>> {
  return engineOperator<In, Awaited<Out>, Awaited<Out>>(
    'parallelMap',
    work,
    options,
    (subscriber) => ({
      value: (value) => subscriber.next(value),
      failure: (error) => subscriber.error(error),
    }),
  );
}

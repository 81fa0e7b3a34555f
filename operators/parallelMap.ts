import type { OperatorFunction } from 'rxjs';
import type { ParallelOptions } from '../src/options.js';
import type { Work } from '../src/pool/task.js';
import { engineOperator } from './internal.js';

/**
 * Maps each value of the source on a pool of workers, and emits the results in source order
 * (or in completion order with `ordered: false`).
 *
 * At most `concurrency` items are between the source and the output at once: running, waiting for
 * a worker, or finished and waiting for their turn. When an item fails for good, every earlier
 * result is emitted first (ordered mode), then the stream errors with the item's `TaskError` and
 * the items after it are cancelled. Unsubscribing stops queued and running work.
 *
 * ## Example
 * ```ts
 * import { range } from 'rxjs';
 * import { parallelMap } from 'rxpool/operators';
 *
 * range(1, 5).pipe(parallelMap((n: number) => n * n)).subscribe((x) => console.log(x));
 * // Output: 1, 4, 9, 16, 25
 * ```
 *
 * @see parallelSettle
 * @param work A `task(module, exportName)` or a self-contained function.
 * @param options See {@link ParallelOptions}.
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

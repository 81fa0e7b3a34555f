import type { OperatorFunction } from 'rxjs';
import type { ParallelOptions } from '../src/options.js';
import type { Work } from '../src/pool/task.js';
import type { Settled } from '../src/types.js';
import { engineOperator } from './internal.js';

/**
 * Like {@link parallelMap}, but each item arrives as a `Settled` value: `{ ok: true, value }` or
 * `{ ok: false, error }`. A failed item never fails the stream; pipe the error operators
 * (`skipFailures`, `throwFailures`, `recoverFailures`, `routeFailures`) to decide what it does.
 *
 * ## Example
 * ```ts
 * of(1, 0, 2)
 *   .pipe(parallelSettle((n: number) => { if (n === 0) throw new Error('zero'); return 10 / n; }))
 *   .subscribe((s) => console.log(s.ok ? s.value : s.error.cause.message));
 * // Output: 10, zero, 5
 * ```
 *
 * @see parallelMap
 * @param work A `task(module, exportName)` or a self-contained function.
 * @param options See {@link ParallelOptions}.
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

/**
 * The `routeFailures` operator: a `Settled` stream's failures sent to a dead-letter sink.
 */
import type { Observer, OperatorFunction } from 'rxjs';
import type { Failure, Settled } from '../src/types.js';
import { rx } from './rx.js';

/**
 * Emits the values of a {@link Settled} stream and sends each failure to `sink` (a dead-letter
 * queue: a `Subject`, or any `Observer`).
 *
 * _Keep the good results flowing, and send the failed items somewhere else._
 *
 * The sink is completed with the stream, and errored with it. A plain function is taken as the
 * sink's `next`. Typical sinks write the failed inputs to a rejects file, or to a queue to retry
 * later.
 *
 * ## Example
 * ```ts
 * import { of, Subject } from 'rxjs';
 * import { type Failure } from 'rxpool';
 * import { parallelSettle, routeFailures } from 'rxpool/operators';
 *
 * const rejects = new Subject<Failure<string>>();
 * rejects.subscribe({
 *   next: (f) => console.log(`rejected: ${f.input}`),
 *   complete: () => console.log('rejects done'),
 * });
 * of('1', 'x', '3')
 *   .pipe(parallelSettle((s: string) => JSON.parse(s)), routeFailures(rejects))
 *   .subscribe((n) => console.log(n));
 * // Output:
 * // 1
 * // rejected: x
 * // 3
 * // rejects done
 * ```
 *
 * @see {@link skipFailures}
 * @param sink Receives every failure: an `Observer` (a `Subject` works), or a function.
 * @returns An operator from {@link Settled} values to the values of the successes.
 */
export function routeFailures<In, Out>(
  sink: Partial<Observer<Failure<In>>> | ((failure: Failure<In>) => void),
): OperatorFunction<Settled<In, Out>, Out> {
  const observer = typeof sink === 'function' ? { next: sink } : sink;
  if (observer === null || typeof observer !== 'object' || typeof observer.next !== 'function') {
    throw new TypeError('Expected `sink` to be an Observer with a next method (a Subject works)');
  }
  const { filter, map, pipe, tap } = rx();
  return pipe(
    tap({
      next: (settled: Settled<In, Out>) => {
        if (!settled.ok) observer.next!(settled);
      },
      complete: () => observer.complete?.(),
      error: (error) => observer.error?.(error),
    }),
    filter((settled): settled is Extract<Settled<In, Out>, { ok: true }> => settled.ok),
    map((settled) => settled.value),
  );
}

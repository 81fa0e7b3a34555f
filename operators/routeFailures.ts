import { filter, map, type Observer, type OperatorFunction, pipe, tap } from 'rxjs';
import type { Failure, Settled } from '../src/types.js';

/**
 * Emits the values of a `Settled` stream and sends each failure to `sink` (a dead-letter queue:
 * a `Subject`, or any `Observer`). The sink is completed with the stream, and errored with it.
 *
 * ## Example
 * ```ts
 * const rejects = new Subject<Failure<string>>();
 * rejects.subscribe((f) => rejectsFile.write(`${f.input}\n`));
 * lines$.pipe(parallelSettle(parse), routeFailures(rejects)).subscribe(write);
 * ```
 *
 * @param sink Receives every failure.
 */
export function routeFailures<In, Out>(
  sink: Partial<Observer<Failure<In>>> | ((failure: Failure<In>) => void),
): OperatorFunction<Settled<In, Out>, Out> {
  const observer = typeof sink === 'function' ? { next: sink } : sink;
  if (observer === null || typeof observer !== 'object' || typeof observer.next !== 'function') {
    throw new TypeError('Expected `sink` to be an Observer with a next method (a Subject works)');
  }
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

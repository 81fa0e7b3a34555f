/**
 * The `parallelFlatMap` operator: work that yields many values per item, streamed back while it
 * runs; a thin face over the engine.
 */
import type { OperatorFunction } from 'rxjs';
import type { FlatOptions } from '../src/option-types.js';
import type { FlatWork } from '../src/pool/task.js';
import { engineOperator } from './internal.js';

/**
 * Runs each value of the source through work that yields many values (a generator, an array, an
 * iterable, an Observable) on a pool of workers, and emits those values as they come.
 *
 * _Like `concatMap` (or `mergeMap` with `ordered: false`), but each inner stream runs on another
 * thread._
 *
 * Each value travels back while its item still runs. `ordered: true` (the default) emits every
 * value of item `i` before any of item `i + 1`, while later items already run and gather theirs
 * (as `concatMapEager`); `ordered: false` emits values as they arrive, interleaved (as
 * `mergeMap`). `concurrency` bounds the items taken from the source. `highWaterMark` bounds the
 * values of one item held on this side: when an item has that many waiting, its iterator is not
 * pulled in its worker until they go out, so an endless generator read by a slow consumer runs in
 * bounded memory. Unsubscribing (`take(n)`, an error downstream) calls `return()` on the running
 * iterators in their workers (a generator's `finally` blocks run there); queued items never start.
 * `timeout` bounds each wait for an item's next value, not counting time paused for credit;
 * `retry` runs again only an attempt none of whose values went out, and no value is ever emitted
 * twice. A failed item's values that came are emitted before the stream errors with its
 * {@link TaskError}, whose `emitted` says how many.
 *
 * ## Example
 * ```ts
 * import { of } from 'rxjs';
 * import { parallelFlatMap } from 'rxpool/operators';
 *
 * of(2, 3)
 *   .pipe(
 *     parallelFlatMap(function* (n: number) {
 *       for (let i = 0; i < n; i++) yield `${n}.${i}`;
 *     }),
 *   )
 *   .subscribe((x) => console.log(x));
 * // Output:
 * // 2.0
 * // 2.1
 * // 3.0
 * // 3.1
 * // 3.2
 * ```
 *
 * @see {@link parallelFlatSettle} to get failures as values instead of an error.
 * @see {@link Pool.imapFlat} for the same over an iterable, without RxJS.
 * @param work A {@link task} reference or a self-contained function; see {@link FlatWork}.
 * @param options See {@link FlatOptions}; all but `signal`.
 * @returns An operator that emits the values of every item's work.
 */
export function parallelFlatMap<In, Out>(
  work: FlatWork<In, Out>,
  options?: Omit<FlatOptions<In>, 'signal'>,
): OperatorFunction<In, Out> {
  return engineOperator<In, Out, Out>(
    'parallelFlatMap',
    work,
    options,
    (subscriber) => ({
      value: (value) => subscriber.next(value),
      failure: (error) => subscriber.error(error),
    }),
    true,
  );
}

/**
 * The RxJS operators alone, as `rxjs/operators` is to `rxjs`: {@link parallelMap},
 * {@link parallelSettle}, and the error operators for streams of `Settled` values, with the
 * types of those values ({@link Settled}, {@link Success}, {@link Failure}).
 *
 * _Parallel map for RxJS pipelines, in order, with a bounded window._
 *
 * ## Example
 * ```ts
 * import { range } from 'rxjs';
 * import { parallelMap } from 'rxpool/operators';
 *
 * range(1, 3)
 *   .pipe(parallelMap((n: number) => n * 10, { ordered: false }))
 *   .subscribe((x) => console.log(x));
 * // Output (in the order the items finish):
 * // 10
 * // 20
 * // 30
 * ```
 *
 * @module rxpool/operators
 */

import { asyncScheduler, filter, map, Observable, pipe, Subscriber, tap } from 'rxjs';
import { provideRx } from './rx.js';

// This entry imports rxjs itself, so that a bundler follows it (operators/rx.ts says why). The
// call is a side effect, which package.json's `sideEffects` names, or a bundler that trusts
// `sideEffects: false` drops this module: the operators are re-exported, none of its own
// bindings is used.
provideRx({ asyncScheduler, filter, map, Observable, pipe, Subscriber, tap });

export type { Failure, Settled, Success } from '../src/types.js';
export { parallelFlatMap } from './parallelFlatMap.js';
export { parallelFlatSettle } from './parallelFlatSettle.js';
export { parallelMap } from './parallelMap.js';
export { parallelSettle } from './parallelSettle.js';
export { recoverFailures } from './recoverFailures.js';
export { routeFailures } from './routeFailures.js';
export { skipFailures } from './skipFailures.js';
export { throwFailures } from './throwFailures.js';

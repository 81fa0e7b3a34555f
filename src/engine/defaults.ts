/**
 * The engine's defaults that the faces re-export: the engine must not import them from a face
 * (src/options.ts re-exports them, not the other way round).
 */

/**
 * The default of the `concurrency` option: 16,384 items held at most.
 *
 * _How many items a stream holds at once when you do not say._
 *
 * The most items taken from the source and not yet emitted, by default. Large enough that tiny
 * items travel to the workers in batches of a few thousand (a message costs tens of
 * microseconds, so fewer, larger batches are what makes millions of items a second possible);
 * small enough that a slow item at the head of an ordered stream holds a bounded amount of memory
 * when items are small. Lower it for large items: it counts items, not bytes.
 *
 * ## Example
 * ```ts
 * import { DEFAULT_CONCURRENCY } from 'rxpool';
 *
 * // A quarter of the default window, for items of a few hundred kB:
 * source$.pipe(parallelMap(work, { concurrency: DEFAULT_CONCURRENCY / 4 }));
 * console.log(DEFAULT_CONCURRENCY);
 * // Output:
 * // 16384
 * ```
 *
 * @see {@link ParallelOptions.concurrency}
 */
export const DEFAULT_CONCURRENCY = 16_384;

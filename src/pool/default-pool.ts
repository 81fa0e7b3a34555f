/**
 * The shared default pool, made on first use; a closed or destroyed one is replaced on the next
 * use. Asked for by every call that names no pool (the operators without `pool`).
 */
import { Pool } from './pool.js';

let shared: Pool | undefined;

/**
 * The shared default pool that every call naming no pool runs on.
 *
 * _The pool you get when you do not make one._
 *
 * Created on first use with default {@link PoolOptions} (`os.availableParallelism()` workers), and
 * never keeps the process alive: a script that uses `parallelMap` without creating a pool exits by
 * itself once its work is done. Every call returns the same pool until it is closed or destroyed;
 * the next call after that (or the next call that names no pool) makes a fresh one, while the old
 * pool, like any closed pool, refuses new work.
 *
 * ## Example
 * ```ts
 * import { defaultPool } from 'rxpool';
 *
 * console.log(await defaultPool().run((n: number) => n * n, 7));
 * console.log(defaultPool() === defaultPool());
 * const old = defaultPool();
 * await old.close();
 * console.log(defaultPool() === old, await defaultPool().run((n: number) => n + 1, 1));
 * // Output:
 * // 49
 * // true
 * // false 2
 * ```
 *
 * @see {@link createPool}
 * @returns The shared {@link Pool}.
 */
export function defaultPool(): Pool {
  // A closed pool refuses work for good: the default one is made again rather than reopened.
  if (shared === undefined || shared.dispatcher.closed !== undefined) shared = new Pool();
  return shared;
}

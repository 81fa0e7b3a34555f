/**
 * The `timeout` option where the executor does not enforce it: the engine times each item of a
 * running batch through `RunningBatch.current()` and stops the batch for the item that ran past.
 */
import type { ExecutorTraits } from '../executor/contract.js';

/**
 * Whether items go one a batch: they have a timeout, and the executor can neither enforce it nor
 * say which item of a batch runs (so a batch's time would be charged to no item in particular).
 */
export function oneByOne(traits: ExecutorTraits, timeout: number | undefined): boolean {
  return timeout !== undefined && !traits.knowsPosition && !traits.enforcesTimeouts;
}

/**
 * When to look again at the item that runs, `elapsed` ms into its attempt (`undefined`: no item
 * of the batch is known to run, or a flat item waits for credit, which does not count): the ms to
 * wait, or `undefined` when it ran past `timeout` and its batch must stop.
 */
export function nextCheck(timeout: number, elapsed: number | undefined): number | undefined {
  if (elapsed === undefined) return timeout;
  // Timers may fire up to a millisecond early against a sub-millisecond clock.
  if (elapsed >= timeout - 1) return undefined;
  return timeout - elapsed;
}

/**
 * What becomes of each item of a batch that came back, by the executor's outcome: a pure policy.
 * The engine applies the {@link Route} (`Engine.routeReturned`): it keeps the results of the
 * items that succeeded, charges an attempt to each item that failed, and puts the others back at
 * the head of the queue, uncharged.
 */
import type { BatchOutcome, ItemFailure } from '../executor/contract.js';

/** The item succeeded: its value is at its position in {@link Route.values}. */
export const KEEP = 0;
/** The item goes back to the queue: it did not run, or its run does not count. */
export const AGAIN = 1;
/** As AGAIN, to be sent alone (its batch could not be sent whole, the culprit unknown). */
export const ALONE = 2;
/** An attempt of the item failed. */
export const FAIL = 3;

export type Fate = typeof KEEP | typeof AGAIN | typeof ALONE | typeof FAIL;

/** What becomes of the items of a returned batch, by their position in it. */
export interface Route {
  readonly mark: (position: number) => Fate;
  /** A FAIL item's failure; `undefined` (or no function): it ran past the engine's timeout. */
  readonly failure?: ((position: number) => ItemFailure | undefined) | undefined;
  /** The results of the KEEP items, by position. */
  readonly values?: ArrayLike<unknown> | undefined;
  /** The `Chunk.cap` of the AGAIN items: a crash whose culprit is unknown sends back halves. */
  readonly cap?: number | undefined;
}

/** What the engine knows of the batch besides its outcome. */
export interface Returned {
  /** Items in the batch. */
  readonly count: number;
  /** The position of the item the engine stopped the batch for (its timeout), if it did. */
  readonly timedOut: number | undefined;
}

/**
 * The route of a returned batch; `undefined` when every item ran and succeeded (the common case).
 * `flat`: a flat batch, whose items that ended said so as they did (so none is routed whole).
 */
export function routeOf(outcome: BatchOutcome, batch: Returned, flat: boolean): Route | undefined {
  switch (outcome.type) {
    case 'done': {
      const { values, failures, count } = outcome;
      const culprit = outcome.stopped ? batch.timedOut : undefined;
      if (culprit !== undefined && culprit < count) {
        // It answered the timeout's abort: the item that ran past it fails as timed out.
        return {
          mark: (p) => (p === culprit ? FAIL : p >= count ? AGAIN : failures?.[p] ? FAIL : KEEP),
          failure: (p) => (p === culprit ? undefined : failures![p]),
          values,
        };
      }
      if (failures === null && count === batch.count && !flat) return undefined;
      return {
        mark: (p) => (p >= count ? AGAIN : failures?.[p] ? FAIL : KEEP),
        failure: (p) => failures![p],
        values,
      };
    }
    case 'crashed': {
      const { position, error } = outcome;
      if (position !== undefined || batch.count === 1) {
        const culprit = position ?? 0;
        return {
          mark: (p) => (p === culprit ? FAIL : AGAIN),
          failure: () => ({ error, kind: 'crashed', retryable: true }),
        };
      }
      // The culprit is unknown: the batch goes back as halves, each uncharged.
      return { mark: () => AGAIN, cap: Math.ceil(batch.count / 2) };
    }
    case 'unsendable': {
      const { blamed } = outcome;
      return {
        mark: (p) => (blamed === undefined ? ALONE : blamed.has(p) ? FAIL : AGAIN),
        failure: (p) => ({ error: blamed!.get(p)!, kind: 'threw', retryable: false }),
      };
    }
    case 'aborted': {
      const culprit = batch.timedOut;
      // The item the engine stopped for its timeout fails (no failure given: a timeout).
      return { mark: (p) => (p === culprit ? FAIL : AGAIN) };
    }
    case 'lost':
      return { mark: () => AGAIN };
  }
}

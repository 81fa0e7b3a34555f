/**
 * What becomes of each item of a returned batch (src/engine/route.ts), for each kind of outcome.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AGAIN, ALONE, FAIL, KEEP, type Route, routeOf } from '../../src/engine/route.js';
import type { BatchOutcome, ItemFailure } from '../../src/executor/contract.js';

const failure: ItemFailure = { error: new Error('boom'), kind: 'threw', retryable: true };

function done(count: number, failures: (ItemFailure | undefined)[] | null, stopped = false) {
  return {
    type: 'done',
    values: Array.from({ length: count }, (_, i) => i * 10),
    failures,
    count,
    ms: 1,
    stopped,
  } satisfies BatchOutcome;
}

/** The marks of positions 0..n-1. */
function marks(route: Route | undefined, n: number): number[] | undefined {
  return route && Array.from({ length: n }, (_, p) => route.mark(p));
}

describe('routeOf', () => {
  it('done, every item ran and succeeded: no route (the fast path)', () => {
    assert.equal(routeOf(done(3, null), { count: 3, timedOut: undefined }, false), undefined);
  });

  it('done on a flat batch: routed item by item, all kept', () => {
    const route = routeOf(done(2, null), { count: 2, timedOut: undefined }, true);
    assert.deepEqual(marks(route, 2), [KEEP, KEEP]);
    assert.deepEqual(route!.values, [0, 10]);
  });

  it('done with failures and fewer items run: failed items FAIL, the unrun go AGAIN', () => {
    const route = routeOf(
      done(3, [undefined, failure, undefined]),
      { count: 5, timedOut: undefined },
      false,
    );
    assert.deepEqual(marks(route, 5), [KEEP, FAIL, KEEP, AGAIN, AGAIN]);
    assert.equal(route!.failure!(1), failure);
    assert.equal(route!.cap, undefined);
  });

  it('done, answering a timeout stop: the culprit fails as timed out (no failure)', () => {
    const route = routeOf(done(2, [failure, undefined], true), { count: 4, timedOut: 1 }, false);
    assert.deepEqual(marks(route, 4), [FAIL, FAIL, AGAIN, AGAIN]);
    assert.equal(route!.failure!(0), failure);
    assert.equal(route!.failure!(1), undefined);
  });

  it('done and stopped, but the culprit did not run: routed as any partial batch', () => {
    const route = routeOf(done(1, null, true), { count: 3, timedOut: 2 }, false);
    assert.deepEqual(marks(route, 3), [KEEP, AGAIN, AGAIN]);
  });

  it('crashed under a known item: it fails as crashed (retryable), its batch-mates go again', () => {
    const error = new Error('exit 1');
    const route = routeOf(
      { type: 'crashed', error, position: 1 },
      { count: 3, timedOut: undefined },
      false,
    );
    assert.deepEqual(marks(route, 3), [AGAIN, FAIL, AGAIN]);
    assert.deepEqual(route!.failure!(1), { error, kind: 'crashed', retryable: true });
  });

  it('crashed, the culprit unknown: a batch of one is the culprit; a larger one goes back as halves', () => {
    const error = new Error('exit 1');
    const one = routeOf(
      { type: 'crashed', error, position: undefined },
      { count: 1, timedOut: undefined },
      false,
    );
    assert.deepEqual(marks(one, 1), [FAIL]);
    const many = routeOf(
      { type: 'crashed', error, position: undefined },
      { count: 5, timedOut: undefined },
      false,
    );
    assert.deepEqual(marks(many, 5), [AGAIN, AGAIN, AGAIN, AGAIN, AGAIN]);
    assert.equal(many!.cap, 3);
  });

  it('unsendable: the blamed fail (not retryable), the others go again; none blamed: all alone', () => {
    const why = new TypeError('cannot clone');
    const blamed = routeOf(
      { type: 'unsendable', blamed: new Map([[2, why]]) },
      { count: 3, timedOut: undefined },
      false,
    );
    assert.deepEqual(marks(blamed, 3), [AGAIN, AGAIN, FAIL]);
    assert.deepEqual(blamed!.failure!(2), { error: why, kind: 'threw', retryable: false });
    const unknown = routeOf(
      { type: 'unsendable', blamed: undefined },
      { count: 2, timedOut: undefined },
      false,
    );
    assert.deepEqual(marks(unknown, 2), [ALONE, ALONE]);
  });

  it('aborted: the item stopped for its timeout fails as timed out, the rest go again', () => {
    const timed = routeOf({ type: 'aborted' }, { count: 3, timedOut: 1 }, false);
    assert.deepEqual(marks(timed, 3), [AGAIN, FAIL, AGAIN]);
    assert.equal(timed!.failure, undefined);
    const cancelled = routeOf({ type: 'aborted' }, { count: 2, timedOut: undefined }, false);
    assert.deepEqual(marks(cancelled, 2), [AGAIN, AGAIN]);
  });

  it('lost: every item goes again, uncharged', () => {
    assert.deepEqual(
      marks(routeOf({ type: 'lost' }, { count: 2, timedOut: undefined }, false), 2),
      [AGAIN, AGAIN],
    );
  });
});

/**
 * Placement (src/threads/placement.ts) on a virtual clock: where a batch goes, how many batches
 * are out (activeLinks), when a waiting batch moves (steal).
 */
import assert from 'node:assert/strict';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { DEPTH, MAIN_BUSY_ABOVE, Placement, STEAL_AFTER_MS } from '../../src/threads/placement.js';

/** A virtual clock, and a main thread whose event loop ran `active` ms of them. */
function setup(size = 4) {
  const clock = {
    t: 1000,
    active: 0,
    now() {
      return this.t;
    },
    eventLoopUtilization(since?: EventLoopUtilization): EventLoopUtilization {
      const active = this.active - (since?.active ?? 0);
      const idle = this.t - this.active - (since?.idle ?? 0);
      return { active, idle, utilization: active / (active + idle) };
    },
  };
  return { clock, placement: new Placement(size, clock) };
}
const links = (...held: number[]) => held.map((h, i) => ({ held: h, name: i }));

/**
 * Feeds windows of 5 ms, `busyShare` busy time over `activeLinks` workers, with the main thread
 * busy `mainBusy` of each.
 */
function windows(
  placement: Placement,
  clock: { t: number; active: number },
  count: number,
  busyShare: number,
  mainBusy = 1,
) {
  for (let i = 0; i < count; i++) {
    placement.posted(clock.t);
    clock.t += 5;
    clock.active += 5 * mainBusy;
    placement.ranFor(5 * placement.activeLinks * busyShare, true);
  }
}

describe('Placement', () => {
  it('starts with every worker: capacity is DEPTH batches a link', () => {
    const { placement } = setup(3);
    assert.equal(placement.activeLinks, 3);
    assert.equal(placement.capacity(), 3 * DEPTH);
  });

  it('a batch goes to an idle link first', () => {
    const { placement } = setup();
    assert.equal(placement.choose(links(1, 0, 1), true)?.name, 1);
    assert.equal(placement.choose(links(1, 0, 1), false)?.name, 1);
  });

  it('a short batch waits behind the fewest; a long one never waits behind another', () => {
    const { placement } = setup();
    assert.equal(placement.choose(links(2, 1, 1), true)?.name, 1);
    assert.equal(placement.choose(links(2, 1, 1), false), undefined);
    assert.equal(placement.choose(links(2, 2), true), undefined, 'DEPTH is the most a link holds');
  });

  it('short batches only go to the first `activeLinks` links', () => {
    const { placement, clock } = setup(2);
    windows(placement, clock, 1, 0.05); // mostly idle: one worker is enough
    assert.equal(placement.activeLinks, 1);
    assert.equal(placement.choose(links(1, 0), true)?.name, 0, 'behind the active one');
    assert.equal(placement.choose(links(2, 0), true), undefined, 'the second link stays idle');
    assert.equal(placement.choose(links(2, 0), false)?.name, 1, 'a long batch takes it');
  });

  it('narrows while the workers wait on a busy main thread, widens after GROW_WINDOWS busy windows', () => {
    const { placement, clock } = setup(4);
    windows(placement, clock, 3, 0.05);
    assert.equal(placement.activeLinks, 1);
    windows(placement, clock, 2, 0.95);
    assert.equal(placement.activeLinks, 1, 'two busy windows are not load yet');
    windows(placement, clock, 1, 0.95);
    assert.equal(placement.activeLinks, 2);
    assert.equal(placement.capacity(), 2 * DEPTH);
  });

  it('keeps every link while the workers and the main thread are both idle', () => {
    // The workers wait on something else: a slow input, a worker still starting, a main thread
    // that lost its core. One link would leave one worker doing the work of two once it comes.
    const { placement, clock } = setup(2);
    windows(placement, clock, 10, 0.05, 0.1);
    assert.equal(placement.activeLinks, 2);
    assert.equal(placement.choose(links(1, 0), true)?.name, 1, 'the idle link takes a batch');
    windows(placement, clock, 10, 0.05, MAIN_BUSY_ABOVE);
    assert.equal(placement.activeLinks, 2, 'a main thread busy part of the time');
    windows(placement, clock, 1, 0.05, (1 + MAIN_BUSY_ABOVE) / 2);
    assert.equal(placement.activeLinks, 1, 'busy nearly all of it: the workers wait on it');
  });

  it('a long batch opens every link again; a steal opens one more', () => {
    const { placement, clock } = setup(4);
    windows(placement, clock, 3, 0.05);
    assert.equal(placement.activeLinks, 1);
    placement.stole();
    assert.equal(placement.activeLinks, 2);
    placement.placing(true);
    assert.equal(placement.activeLinks, 2, 'a short batch changes nothing');
    placement.placing(false);
    assert.equal(placement.activeLinks, 4);
    placement.stole();
    assert.equal(placement.activeLinks, 4, 'never more than size');
  });

  it('a batch is overdue (it may move) after STEAL_AFTER_MS behind another', () => {
    const { placement, clock } = setup();
    const postedAt = clock.t;
    clock.t += STEAL_AFTER_MS - 1;
    assert.equal(placement.overdue(postedAt), false);
    clock.t += 1;
    assert.equal(placement.overdue(postedAt), true);
  });

  it('short is what may run within two target batches', () => {
    const { placement } = setup();
    assert.equal(placement.isShort(undefined), false);
    assert.equal(placement.isShort(STEAL_AFTER_MS), true);
    assert.equal(placement.isShort(STEAL_AFTER_MS + 1), false);
  });
});

/**
 * The in-flight window (src/engine/window.ts) against a model: inputs are admitted in the order
 * they were pushed, never more held than `concurrency`, and the backlog holds the rest.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PAGE_SIZE, Window } from '../../src/engine/window.js';

/** Pushes as the engine does: admitted at once when the window is open, else deferred. */
function push(window: Window<number>, input: number, admitted: number[]): void {
  const page = window.store(input);
  if (window.open) {
    admitted.push(page[page.length - 1]!);
    window.held++;
  } else {
    window.defer(page);
  }
}

function release(window: Window<number>, admitted: number[]): void {
  window.release((page, from, to) => {
    for (let i = from; i < to; i++) admitted.push(page[i]!);
    window.held += to - from;
  });
}

describe('Window', () => {
  it('admits in push order, holds at most `concurrency`, and backlogs the rest', () => {
    const op = fc.oneof(
      fc.record({ push: fc.integer({ min: 1, max: 2 * PAGE_SIZE + 5 }) }),
      fc.record({ emit: fc.integer({ min: 1, max: 50 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.array(op, { maxLength: 20 }), (c, ops) => {
        const window = new Window<number>(c);
        const admitted: number[] = [];
        let pushed = 0;
        let emitted = 0;
        for (const step of ops) {
          if ('push' in step) {
            for (let i = 0; i < step.push; i++) push(window, pushed++, admitted);
          } else {
            const k = Math.min(step.emit, window.held);
            window.held -= k;
            emitted += k;
            release(window, admitted);
          }
          assert.ok(window.held <= c, `held ${window.held} over ${c}`);
          assert.equal(window.held, admitted.length - emitted);
          assert.equal(window.backlog, pushed - admitted.length);
          assert.equal(window.room, c - window.held - window.backlog);
          // Nothing waits while there is room.
          if (window.backlog > 0) assert.equal(window.held, c);
        }
        assert.deepEqual(
          admitted,
          Array.from({ length: admitted.length }, (_, i) => i),
        );
      }),
      { numRuns: 200 },
    );
  });

  it('keeps inputs in pages of at most PAGE_SIZE, a new page once one is full', () => {
    const window = new Window<number>(Number.POSITIVE_INFINITY);
    const first = window.store(0);
    for (let i = 1; i < PAGE_SIZE; i++) assert.equal(window.store(i), first);
    const second = window.store(PAGE_SIZE);
    assert.notEqual(second, first);
    assert.equal(first.length, PAGE_SIZE);
    assert.deepEqual(second, [PAGE_SIZE]);
  });

  it('clear() forgets the backlog and what is held', () => {
    const window = new Window<number>(1);
    const admitted: number[] = [];
    for (let i = 0; i < 3; i++) push(window, i, admitted);
    assert.deepEqual([window.held, window.backlog], [1, 2]);
    window.clear();
    assert.deepEqual([window.held, window.backlog, window.room], [0, 0, 1]);
    release(window, admitted);
    assert.deepEqual(admitted, [0]);
  });
});

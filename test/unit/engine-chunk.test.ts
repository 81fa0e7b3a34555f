/**
 * Chunks (src/engine/chunk.ts): a cut shares the inputs and keeps the state; a batch's inputs and
 * spans; the spans of a stream whose items are another stream's (`EngineConfig.origin`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Chunk, inputsOf, spansOf, WAITING, within } from '../../src/engine/chunk.js';

describe('Chunk', () => {
  it('cut: two chunks over the same inputs, the rest in the same state, linked only when asked', () => {
    const inputs = [0, 1, 2, 3, 4];
    const chunk = new Chunk(10, inputs, 1, 5, 2, 7);
    chunk.state = WAITING;
    chunk.cap = 3;
    const rest = chunk.cut(1, false);
    assert.deepEqual([chunk.first, chunk.lo, chunk.hi, chunk.length], [10, 1, 2, 1]);
    assert.deepEqual(
      [rest.first, rest.lo, rest.hi, rest.attempts, rest.queuedAt],
      [11, 2, 5, 2, 7],
    );
    assert.deepEqual([rest.state, rest.cap], [WAITING, 3]);
    assert.equal(rest.inputs, inputs);
    assert.equal(chunk.next, undefined);
    const last = rest.cut(2, true);
    assert.equal(rest.next, last);
  });

  it('inputsOf: the batch’s inputs in an array of its own', () => {
    const inputs = ['a', 'b', 'c', 'd'];
    const one = [new Chunk(0, inputs, 1, 3, 0, 0)];
    const got = inputsOf(one);
    assert.deepEqual(got, ['b', 'c']);
    assert.notEqual(got, inputs);
    assert.deepEqual(
      inputsOf([new Chunk(0, inputs, 0, 1, 0, 0), new Chunk(3, inputs, 3, 4, 0, 0)]),
      ['a', 'd'],
    );
  });

  it('spansOf: one span per chunk, with the attempt to come', () => {
    const inputs = [0, 1, 2, 3];
    const chunks = [new Chunk(0, inputs, 0, 2, 0, 0), new Chunk(3, inputs, 3, 4, 1, 0)];
    assert.deepEqual(spansOf(chunks, undefined), [
      { index: 0, count: 2, attempt: 1 },
      { index: 3, count: 1, attempt: 2 },
    ]);
  });

  it('within: a span of a remote batch’s items as spans of the original stream’s', () => {
    // The batch held items 100..102 on their first attempt, then 200..201 on their third.
    const origin = [
      { index: 100, count: 3, attempt: 1 },
      { index: 200, count: 2, attempt: 3 },
    ];
    // Items 1..3 of the batch, on the batch's second attempt.
    assert.deepEqual(within(origin, { index: 1, count: 3, attempt: 2 }), [
      { index: 101, count: 2, attempt: 2 },
      { index: 200, count: 1, attempt: 4 },
    ]);
    assert.deepEqual(within(origin, { index: 4, count: 1, attempt: 1 }), [
      { index: 201, count: 1, attempt: 3 },
    ]);
  });
});

/**
 * The engine's deque against a plain array model, over random operation sequences that cross
 * chunk boundaries and empty the queue in between.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import { Deque } from '../../src/engine/deque.js';

it('Deque behaves like an array with push, shift, unshift, peek and clear', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('push' as const), count: fc.integer({ min: 1, max: 3000 }) }),
    fc.record({ kind: fc.constant('shift' as const), count: fc.integer({ min: 1, max: 3000 }) }),
    fc.record({ kind: fc.constant('unshift' as const), count: fc.integer({ min: 1, max: 5 }) }),
    fc.record({ kind: fc.constant('clear' as const), count: fc.constant(0) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
      const deque = new Deque<number>();
      const model: number[] = [];
      let next = 0;
      for (const { kind, count } of ops) {
        for (let i = 0; i < count; i++) {
          if (kind === 'push') {
            deque.push(next);
            model.push(next++);
          } else if (kind === 'unshift') {
            deque.unshift(next);
            model.unshift(next++);
          } else if (kind === 'shift') {
            assert.equal(deque.shift(), model.shift());
          }
        }
        if (kind === 'clear') {
          deque.clear();
          model.length = 0;
        }
        assert.equal(deque.length, model.length);
        assert.equal(deque.peek(), model[0]);
      }
      while (model.length > 0) assert.equal(deque.shift(), model.shift());
      assert.equal(deque.shift(), undefined);
    }),
    { numRuns: 200 },
  );
});

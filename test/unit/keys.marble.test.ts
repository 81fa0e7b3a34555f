/**
 * The `key` option (per-key order, Akka's mapAsyncPartitioned) in virtual time over the fake
 * executor: items with the same key never overlap and start in source order; other keys run
 * beside them; ordered output stays in source order, unordered keeps each key's order.
 * Inputs are strings whose first letter is their key ('a1', 'a2', 'b1').
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { TestScheduler } from 'rxjs/testing';
import { parallelFlatMap, parallelMap, parallelSettle } from '../../operators/index.js';
import { rxClock } from '../../operators/internal.js';
import { Pool } from '../../src/pool/pool.js';
import { describeValue } from '../../src/pool/task.js';
import { FakeExecutor, fakePool } from '../support/fake-executor.js';

const upper = (x: string) => x.toUpperCase();
const keyOf = (x: string) => x[0]!;

function setup(durations: Record<string, number>, size = 3) {
  const scheduler = new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
  const { pool, executor } = fakePool({
    clock: rxClock,
    size,
    duration: (x: string) => durations[x] ?? 1,
  });
  return { scheduler, pool, executor };
}

describe('key: per-key order', () => {
  it('same key one at a time in source order, other keys beside them (ordered output)', () => {
    const { scheduler, pool, executor } = setup({ a1: 3, a2: 1, b1: 1 });
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('(abc|)', { a: 'a1', b: 'a2', c: 'b1' });
      // a1 runs 0-3, b1 beside it 0-1, a2 only after a1: 3-4.
      expectObservable(source.pipe(parallelMap(upper, { pool, key: keyOf }))).toBe('3ms A(BC|)', {
        A: 'A1',
        B: 'A2',
        C: 'B1',
      });
    });
    const span = (x: string) => executor.spans.find((s) => s.input === x)!;
    assert.equal(span('b1').start, 0);
    assert.ok(span('a2').start >= span('a1').end);
  });

  it('unordered: each key in its source order, keys interleaved as they finish', () => {
    const { scheduler, pool } = setup({ a1: 3, a2: 1, b1: 1, b2: 1 });
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('(abcd|)', { a: 'a1', b: 'a2', c: 'b1', d: 'b2' });
      expectObservable(source.pipe(parallelMap(upper, { pool, key: keyOf, ordered: false }))).toBe(
        '-xyz(w|)',
        { x: 'B1', y: 'B2', z: 'A1', w: 'A2' },
      );
    });
  });

  it('a retried item keeps its key: the next of its key waits for it', () => {
    const g = globalThis as { tries?: number };
    g.tries = 0;
    const { scheduler, pool, executor } = setup({});
    const out: string[] = [];
    scheduler.run(({ cold }) => {
      cold('(ab|)', { a: 'a1', b: 'a2' })
        .pipe(
          parallelMap(
            (x: string) => {
              if (x === 'a1' && (globalThis as unknown as { tries: number }).tries++ === 0) {
                throw new Error('flaky');
              }
              return x;
            },
            { pool, key: keyOf, retry: 1 },
          ),
        )
        .subscribe((v) => out.push(v));
    });
    assert.deepEqual(out, ['a1', 'a2']);
    assert.deepEqual(executor.started, ['a1', 'a1', 'a2']);
  });

  it('a key that throws fails its item, which never runs; the rest go on', () => {
    const { scheduler, pool, executor } = setup({});
    const out: unknown[] = [];
    scheduler.run(({ cold }) => {
      cold('(abc|)', { a: 'a1', b: 'x', c: 'b1' })
        .pipe(
          parallelSettle(upper, {
            pool,
            key: (x: string) => {
              if (x === 'x') throw new RangeError('no key');
              return x[0]!;
            },
          }),
        )
        .subscribe((s) => out.push(s.ok ? s.value : `${s.index}:${s.error.cause.name}`));
    });
    assert.deepEqual(out, ['A1', '1:RangeError', 'B1']);
    assert.ok(!executor.started.includes('x'));
  });

  it('works with the flat faces', () => {
    const { scheduler, pool } = setup({});
    const out: [number, string][] = [];
    scheduler.run(({ cold }) => {
      cold('(abc|)', { a: 'a1', b: 'a2', c: 'b1' })
        .pipe(
          parallelFlatMap((x: string) => [`${x}.1`, `${x}.2`], {
            pool,
            key: keyOf,
            ordered: false,
          }),
        )
        .subscribe((v) => out.push([scheduler.now(), v]));
    });
    // a1 and b1 side by side (values at 1 and 2, ends at 3), a2 only after a1 ended.
    assert.deepEqual(out, [
      [1, 'a1.1'],
      [1, 'b1.1'],
      [2, 'a1.2'],
      [2, 'b1.2'],
      [4, 'a2.1'],
      [5, 'a2.2'],
    ]);
  });

  it('validates key', () => {
    assert.throws(
      () => parallelMap(upper, { key: 'id' as never }),
      new TypeError(
        `Expected \`key\` to be a function (input) => string | number, got ${describeValue('id')}`,
      ),
    );
  });

  it('property: same-key items never overlap and start in source order; output is input order', () => {
    const items = fc.array(
      fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 4 })),
      {
        maxLength: 20,
      },
    );
    fc.assert(
      fc.property(
        items,
        fc.integer({ min: 1, max: 6 }),
        fc.boolean(),
        (list, concurrency, ordered) => {
          const inputs = list.map(([key, ms], i) => `${key}:${ms}:${i}`);
          const scheduler = new TestScheduler(assert.deepEqual);
          const executor = new FakeExecutor({
            clock: rxClock,
            size: 3,
            duration: (x: string) => Number(x.split(':')[1]),
          });
          const pool = new Pool({ executor });
          const out: string[] = [];
          scheduler.run(({ cold }) => {
            const marble = `${inputs.map((_, i) => String.fromCharCode(0x100 + i)).join('')}|`;
            const values = Object.fromEntries(
              inputs.map((x, i) => [String.fromCharCode(0x100 + i), x]),
            );
            cold(marble, values)
              .pipe(
                parallelMap((x: string) => x, {
                  pool,
                  concurrency,
                  ordered,
                  key: (x: string) => x.split(':')[0]!,
                }),
              )
              .subscribe((v) => out.push(v));
          });
          const key = (x: unknown) => String(x).split(':')[0];
          const index = (x: unknown) => Number(String(x).split(':')[2]);
          for (const k of new Set(inputs.map(key))) {
            const spans = executor.spans.filter((s) => key(s.input) === k);
            for (let i = 1; i < spans.length; i++) {
              assert.ok(spans[i]!.start >= spans[i - 1]!.end, `key ${k} overlapped`);
              assert.ok(
                index(spans[i]!.input) > index(spans[i - 1]!.input),
                `key ${k} out of order`,
              );
            }
            const outOfKey = out.filter((x) => key(x) === k);
            assert.deepEqual(
              outOfKey,
              inputs.filter((x) => key(x) === k),
            );
          }
          if (ordered) assert.deepEqual(out, inputs);
          else assert.deepEqual([...out].sort(), [...inputs].sort());
        },
      ),
    );
  });
});

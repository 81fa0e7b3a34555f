/**
 * `pool.starmap` (Python's `starmap`): each item is an array of arguments spread into the call;
 * and `pool.map`'s options, where `ordered: false` is a type error.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { AbortError, createPool, type MapOptions, TaskError, task } from 'rxpool';
import { fixture, rejection } from './_helpers.js';

const pool = createPool({ size: 2 });
after(() => pool.destroy());

const T = { timeout: 30_000 };

describe('pool.starmap', () => {
  it('spreads each array into an inline function, in input order', T, async () => {
    assert.deepEqual(
      await pool.starmap(
        (a: number, b: number) => a ** b,
        [
          [2, 3],
          [10, 2],
          [3, 0],
        ],
      ),
      [8, 100, 1],
    );
    // Any number of arguments, none included; the task's context comes after them.
    assert.deepEqual(
      await pool.starmap(
        (...parts: unknown[]) => {
          const context = parts.pop() as { index: number };
          return `${parts.join('+')}#${context.index}`;
        },
        [[], ['a'], ['a', 'b', 'c']],
      ),
      ['#0', 'a#1', 'a+b+c#2'],
    );
    // Arrays made by code: a tuple type (or `as const`) tells TypeScript the arity.
    const xs = Array.from({ length: 100 }, (_, i) => i);
    assert.deepEqual(
      await pool.starmap(
        (a: number, b: number) => a * b,
        xs.map((x) => [x, 3] as const),
        { batchSize: 7 },
      ),
      xs.map((x) => x * 3),
    );
  });

  it('spreads each array into a task() reference, default and named exports', T, async () => {
    const power = task<[number, number], number>(fixture('star.mjs'));
    const join = task<string[], string>(fixture('star.mjs'), 'join');
    const addLater = task<[number, number], number>(fixture('star.mjs'), 'addLater');
    assert.deepEqual(
      await pool.starmap(power, [
        [2, 10],
        [5, 2],
      ]),
      [1024, 25],
    );
    assert.deepEqual(await pool.starmap(join, [['x', 'y'], ['z']]), ['x-y', 'z']);
    assert.deepEqual(
      await pool.starmap(addLater, [
        [1, 2],
        [3, 4],
      ]),
      [3, 7],
    );
    // The same module's export, called by pool.map with one argument, is not spread.
    assert.deepEqual(await pool.map(join, [['x', 'y']]), ['x,y']);
  });

  it(
    'reads an async iterable of argument arrays lazily, and takes the options of map',
    T,
    async () => {
      async function* pairs() {
        for (let i = 0; i < 20; i++) yield [i, i] as [number, number];
      }
      let reports = 0;
      const results = await pool.starmap((a: number, b: number) => a + b, pairs(), {
        concurrency: 4,
        timeout: 10_000,
        retry: 1,
        progress: () => reports++,
      });
      assert.deepEqual(
        results,
        Array.from({ length: 20 }, (_, i) => 2 * i),
      );
      assert.ok(reports >= 1);
    },
  );

  it(
    'fails an item that is not an array alone, with a clear TaskError, not retried',
    T,
    async () => {
      const lists = [[1, 2], 5, [3, 4]] as unknown as [number, number][];
      const error = await rejection(
        pool.starmap((a: number, b: number) => a + b, lists, { retry: 3, batchSize: 3 }),
      );
      assert.equal(error.index, 1);
      assert.equal(error.input, 5);
      assert.equal(error.attempts, 1);
      assert.equal(error.cause.name, 'TypeError');
      assert.equal(
        error.cause.message,
        'Expected each item of pool.starmap to be an array of arguments to spread into the call, got `5` (number)',
      );
      assert.match(error.message, /^Item 1 failed after 1 attempt: TypeError: Expected each item/);
      // A string or an object is not spread either, for a task() reference too.
      const join = task<string[], string>(fixture('star.mjs'), 'join');
      const text = await rejection(pool.starmap(join, ['ab'] as unknown as string[][]));
      assert.match(text.cause.message, /got `'ab'` \(string\)$/);
      const object = await rejection(pool.starmap(join, [{ 0: 'a' }] as unknown as string[][]));
      assert.match(object.cause.message, /got `\{"0":"a"\}` \(object\)$/);
      // The pool goes on.
      assert.deepEqual(await pool.starmap((a: number) => -a, [[1]]), [-1]);
    },
  );

  it(
    'rejects with the first failure in input order, and with AbortError on signal',
    T,
    async () => {
      const error = await rejection(
        pool.starmap(
          (a: number, b: number) => {
            if (b === 0) throw new RangeError(`${a} / 0`);
            return a / b;
          },
          [
            [1, 1],
            [2, 0],
            [3, 0],
          ],
        ),
      );
      assert.equal(error.index, 1);
      assert.equal(error.cause.message, '2 / 0');
      const reason = new Error('stop');
      await assert.rejects(
        pool.starmap((a: number) => a, [[1]], { signal: AbortSignal.abort(reason) }),
        (error: unknown) => error instanceof AbortError && error.cause === reason,
      );
    },
  );

  it('validates work and options at the call, as map does', T, async () => {
    await assert.rejects(
      pool.starmap(42 as unknown as () => void, [[]]),
      /Expected `work` to be a task\(module, exportName\) or a function, got `42` \(number\)/,
    );
    await assert.rejects(
      pool.starmap((a: number) => a, [[1]], { concurrency: 0 }),
      /Expected `concurrency` to be an integer from 1 up or `Infinity`, got `0` \(number\)/,
    );
    await assert.rejects(
      pool.starmap((a: number) => a, 3 as unknown as [number][]),
      /Expected `items` to be an Iterable or an AsyncIterable, got `3` \(number\)/,
    );
  });
});

describe('pool.map and pool.starmap keep input order: `ordered: false` is a type error', () => {
  it('does not type-check, and throws for JavaScript callers', T, async () => {
    await assert.rejects(
      // @ts-expect-error `ordered: false` does not type-check: map returns results in input order
      pool.map((n: number) => n, [1], { ordered: false }),
      {
        name: 'TypeError',
        message: 'pool.map returns results in input order; use pool.imap for `ordered: false`',
      },
    );
    await assert.rejects(
      // @ts-expect-error the same for starmap
      pool.starmap((n: number) => n, [[1]], { ordered: false }),
      /^TypeError: pool\.starmap returns results in input order/,
    );
    const options: MapOptions<number> = { ordered: true, concurrency: 2 };
    assert.deepEqual(await pool.map((n: number) => n + 1, [1, 2], options), [2, 3]);
    assert.ok(
      (await rejection(
        pool.map(() => {
          throw new Error('x');
        }, [1]),
      )) instanceof TaskError,
    );
  });
});

/**
 * The structured-clone rules the README states ("What crosses to a worker"), checked with real
 * workers, both ways (input and result), on thread and process workers, alone and in batches.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createPool, type Pool, TaskError } from 'rxpool';

class Point {
  #secret = 'kept here only';
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
  get norm(): number {
    return Math.hypot(this.x, this.y);
  }
  secret(): string {
    return this.#secret;
  }
}

/** What a value looks like, as plain data, so both sides can be compared. */
const shape = (v: any): unknown => {
  if (typeof v !== 'object' || v === null) {
    return typeof v === 'number' ? { number: Object.is(v, -0) ? '-0' : String(v) } : typeof v;
  }
  return {
    kind: Object.prototype.toString.call(v).slice(8, -1),
    proto: Object.getPrototypeOf(v)?.constructor?.name ?? null,
    keys: Object.keys(v),
  };
};

for (const runtime of ['thread', 'process'] as const) {
  describe(`runtime: '${runtime}'`, () => {
    const pool: Pool = createPool({ size: 2, runtime });
    after(() => pool.close());

    test('a class instance arrives as a plain object: own fields, no prototype, private fields dropped', async () => {
      const seen = (await pool.run(
        (p: any) => ({
          proto: Object.getPrototypeOf(p) === Object.prototype,
          keys: Object.keys(p),
          x: p.x,
          norm: p.norm,
          secret: typeof p.secret,
        }),
        new Point(3, 4),
      )) as Record<string, unknown>;
      assert.deepEqual(seen, {
        proto: true,
        keys: ['x', 'y'],
        x: 3,
        norm: undefined,
        secret: 'undefined',
      });
      // The same on the way back: a class made in the worker, with a private field.
      const back = await pool.run(() => {
        class Made {
          #hidden = 1;
          visible = 2;
          hidden() {
            return this.#hidden;
          }
        }
        return new Made();
      }, null);
      assert.equal(Object.getPrototypeOf(back), Object.prototype);
      assert.deepEqual(back, { visible: 2 });
    });

    test('a Buffer arrives as a Uint8Array with the same bytes, both ways', async () => {
      const input = Buffer.from('héllo');
      const seen = await pool.run(
        (b: any) => [Object.getPrototypeOf(b).constructor.name, Array.from(b)],
        input,
      );
      assert.deepEqual(seen, ['Uint8Array', [...input]]);
      const back = await pool.run(() => Buffer.from('back'), null);
      assert.equal(Object.getPrototypeOf(back), Uint8Array.prototype);
      assert.deepEqual([...back], [...Buffer.from('back')]);
    });

    test('Map, Set, Date, RegExp, typed arrays, BigInt, -0, NaN, cycles and Errors survive, both ways', async () => {
      const cycle: Record<string, unknown> = { name: 'loop' };
      cycle.self = cycle;
      const values = () => [
        new Map<unknown, unknown>([
          [1, 'one'],
          ['k', { deep: [1n] }],
        ]),
        new Set([1, 'two']),
        new Date(1_700_000_000_123),
        /a+b/gi,
        new Float32Array([0.5, -2]),
        new BigInt64Array([-5n]),
        2n ** 70n,
        -0,
        Number.NaN,
        new RangeError('out'),
      ];
      const echo = (v: unknown) => v;
      const back = (await pool.run(echo, values())) as unknown[];
      assert.deepEqual(back, values());
      assert.deepEqual(back.map(shape), values().map(shape));
      const error = back[9] as Error;
      assert.ok(error instanceof RangeError);
      assert.equal(error.message, 'out');
      assert.match(error.stack ?? '', /RangeError: out/);
      const loop = (await pool.run(echo, cycle)) as Record<string, unknown>;
      assert.equal(loop.self, loop);
      // In the worker too, not only after the trip back.
      const inWorker = await pool.run(
        (v: any[]) => [
          v[0] instanceof Map && v[0].get('k').deep[0] === 1n,
          v[1] instanceof Set && v[1].has('two'),
          v[2] instanceof Date && v[2].getTime(),
          v[3] instanceof RegExp && `${v[3].source}/${v[3].flags}`,
          v[4] instanceof Float32Array,
          v[6] === 2n ** 70n,
          Object.is(v[7], -0),
          Number.isNaN(v[8]),
          v[9] instanceof RangeError,
        ],
        values(),
      );
      assert.deepEqual(inWorker, [
        true,
        true,
        1_700_000_000_123,
        'a+b/gi',
        true,
        true,
        true,
        true,
        true,
      ]);
    });

    test('-0 and NaN survive in batches of numbers (packed as typed arrays) both ways', async () => {
      const input = Array.from({ length: 400 }, (_, i) =>
        i % 7 === 0 ? -0 : i % 11 === 0 ? Number.NaN : i,
      );
      const back = await pool.map((n: number) => n, input, { batchSize: 100 });
      assert.equal(back.length, input.length);
      for (const [i, n] of back.entries()) assert.ok(Object.is(n, input[i]), `item ${i}: ${n}`);
      const seen = await pool.map((n: number) => Object.is(n, -0), input, { batchSize: 100 });
      assert.deepEqual(
        seen,
        input.map((n) => Object.is(n, -0)),
      );
    });

    test('a function, a symbol, a promise or a WeakMap fails its item alone, not retried', async () => {
      const inputs: unknown[] = [
        1,
        { callback: () => 0 },
        2,
        Symbol('s'),
        { later: Promise.resolve(1) },
        new WeakMap(),
        3,
      ];
      const settled = [];
      for await (const s of pool.imapSettled((v: unknown) => v, inputs, { retry: 2 })) {
        settled.push(s);
      }
      assert.deepEqual(
        settled.map((s) => (s.ok ? s.value : s.error.attempts)),
        [1, 1, 2, 1, 1, 1, 3],
      );
      const causes = settled.flatMap((s) => (s.ok ? [] : [s.error]));
      for (const error of causes) assert.ok(error instanceof TaskError);
      assert.deepEqual(
        causes.map((e) => e.cause.message.split(/,| which/)[0]),
        [
          'the input.callback is a function (callback)',
          'the input is a symbol',
          'the input.later is a Promise',
          'the input is a WeakMap',
        ],
      );
      // Results too.
      await assert.rejects(
        pool.run(() => () => 1, null),
        (error: TaskError) => {
          assert.ok(error instanceof TaskError);
          assert.match(error.cause.message, /^the result is a function/);
          return true;
        },
      );
    });
  });
}

test('a SharedArrayBuffer in an input is shared with the worker, not copied', async () => {
  const pool = createPool({ size: 1 });
  try {
    const shared = new Int32Array(new SharedArrayBuffer(8));
    await pool.run((s: Int32Array) => Atomics.store(s, 1, 42), shared);
    assert.equal(shared[1], 42);
  } finally {
    await pool.close();
  }
});

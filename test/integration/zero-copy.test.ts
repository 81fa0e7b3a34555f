/**
 * Memory that crosses to the workers without copies: `transfer` moves an input's buffers, `move()`
 * moves a result's back, a SharedArrayBuffer is shared; and batches of numbers, which travel packed
 * in a Float64Array, come back exactly (NaN, -0, the largest and smallest doubles).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { from, lastValueFrom, toArray } from 'rxjs';
import { createPool, TaskError, task } from 'rxpool';
import { parallelMap, parallelSettle } from 'rxpool/operators';
import { fixture } from './_helpers.js';

const pool = createPool({ size: 2 });
after(() => pool.close());
const T = { timeout: 30_000 };

const sum = task<{ data: Float64Array }, { total: number; byteLength: number }>(
  fixture('zero-copy.mjs'),
  'sum',
);
const fill = task<
  { bytes: number; value: number },
  { out: Uint8Array; previousByteLength: number | undefined }
>(fixture('zero-copy.mjs'), 'fill');
const doubleInPlace = task<{ shared: SharedArrayBuffer; from: number; to: number }, number>(
  fixture('zero-copy.mjs'),
  'doubleInPlace',
);

const markShared = task<{ shared: SharedArrayBuffer }, { shared: SharedArrayBuffer }>(
  fixture('zero-copy.mjs'),
  'markShared',
);

describe('zero-copy', () => {
  it('transfer moves an input buffer to the worker: it is detached here', T, async () => {
    const data = new Float64Array(1 << 20).fill(0.5);
    const result = await pool.run(sum, { data }, { transfer: ({ data }) => [data.buffer] });
    assert.deepEqual(result, { total: (1 << 20) * 0.5, byteLength: 8 << 20 });
    assert.equal(data.buffer.byteLength, 0, 'the buffer moved, so it is detached on this side');
  });

  it('without transfer, the input is copied and stays usable here', T, async () => {
    const data = new Float64Array(1024).fill(1);
    assert.equal((await pool.run(sum, { data })).total, 1024);
    assert.equal(data.buffer.byteLength, 8 * 1024);
  });

  it(
    'move() sends a result buffer back without a copy: the worker no longer has it',
    T,
    async () => {
      const pool1 = createPool({ size: 1 });
      try {
        const first = await pool1.run(fill, { bytes: 4 << 20, value: 7 });
        assert.equal(first.out.length, 4 << 20);
        assert.equal(first.out[12345], 7);
        // The same worker, on its next call, looks at the buffer it returned: moved, so detached.
        const second = await pool1.run(fill, { bytes: 16, value: 1 });
        assert.equal(second.previousByteLength, 0);
      } finally {
        await pool1.close();
      }
    },
  );

  it('a SharedArrayBuffer input is shared: workers write into this memory', T, async () => {
    const length = 1 << 20;
    const shared = new SharedArrayBuffer(length * 4);
    const view = new Float32Array(shared).fill(1.5);
    const ranges = Array.from({ length: 8 }, (_, i) => ({
      shared,
      from: (i * length) / 8,
      to: ((i + 1) * length) / 8,
    }));
    const counts = await pool.map(doubleInPlace, ranges);
    assert.equal(
      counts.reduce((a, b) => a + b, 0),
      length,
    );
    assert.ok(view.every((v) => v === 3));
  });

  it(
    'a SharedArrayBuffer in a transfer list (transfer or move()) is shared, not moved',
    T,
    async () => {
      // A typed array's buffer is typed ArrayBufferLike: the list may name shared memory.
      const arrays: Float32Array[] = [new Float32Array(new SharedArrayBuffer(16)).fill(1)];
      const counts = await pool.map(
        doubleInPlace,
        arrays.map((array) => ({ shared: array.buffer as SharedArrayBuffer, from: 0, to: 4 })),
        { transfer: ({ shared }) => [shared] },
      );
      assert.deepEqual(counts, [4]);
      assert.deepEqual([...arrays[0]!], [2, 2, 2, 2], 'the worker wrote into this memory');
      const shared = new SharedArrayBuffer(4);
      const back = await pool.run(markShared, { shared });
      assert.equal(new Int32Array(shared)[0], 7);
      assert.equal(new Int32Array(back.shared)[0], 7);
      assert.ok(back.shared instanceof SharedArrayBuffer);
    },
  );

  it('batches of numbers come back exactly, NaN and -0 included', T, async () => {
    const specials = [NaN, -0, 0, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE];
    const inputs = Array.from({ length: 5000 }, (_, i) =>
      i % 10 === 0 ? specials[(i / 10) % specials.length]! : i * 1.000_000_1 + 2 ** 53,
    );
    const out = await lastValueFrom(
      from(inputs).pipe(
        parallelMap((x: number) => x, { pool, batchSize: 500 }),
        toArray(),
      ),
    );
    assert.equal(out.length, inputs.length);
    for (let i = 0; i < inputs.length; i++) assert.ok(Object.is(out[i], inputs[i]), `item ${i}`);
  });

  it(
    'a batch that mixes numbers and other values is not packed, and loses nothing',
    T,
    async () => {
      const inputs: unknown[] = Array.from({ length: 100 }, (_, i) => (i === 50 ? 'fifty' : i));
      const out = await pool.map((x: unknown) => (typeof x === 'number' ? x * 2 : x), inputs, {
        batchSize: 100,
      });
      assert.deepEqual(
        out,
        inputs.map((x) => (typeof x === 'number' ? x * 2 : x)),
      );
    },
  );
});

describe('transfer with retry', () => {
  const check = (input: { data: Float64Array }) => {
    const error = new RangeError(`bad data of ${input.data.length} numbers`);
    (error as RangeError & { code: string }).code = 'E_DATA';
    throw error;
  };

  it(
    'fails the item with what its attempt threw, not retried since its buffers moved',
    T,
    async () => {
      const data = new Float64Array(8);
      const failed = await pool
        .run(check, { data }, { transfer: ({ data }) => [data.buffer], retry: 2 })
        .then(
          () => assert.fail('expected a rejection'),
          (error: unknown) => error,
        );
      assert.ok(failed instanceof TaskError);
      assert.equal(failed.attempts, 1);
      assert.equal(failed.cause.name, 'RangeError');
      assert.equal(failed.cause.message, 'bad data of 8 numbers');
      assert.equal((failed.cause as Error & { code?: string }).code, 'E_DATA');
      assert.match(
        failed.message,
        /^Item 0 failed after 1 attempt: RangeError: bad data of 8 numbers\nNot retried: its `transfer` buffers went to the worker/,
      );
    },
  );

  it(
    'parallelSettle: each such item carries its own error; items that moved nothing retry',
    T,
    async () => {
      const inputs = [0, 1, 2, 3].map((i) => ({ data: new Float64Array(i) }));
      const settled = await lastValueFrom(
        from(inputs).pipe(
          parallelSettle(check, {
            pool,
            // An empty array has a 0-byte buffer: moving nothing, those items are retried.
            transfer: ({ data }) => (data.length > 1 ? [data.buffer as ArrayBuffer] : []),
            retry: 1,
          }),
          toArray(),
        ),
      );
      assert.deepEqual(
        settled.map((s) => (s.ok ? 'ok' : [s.error.attempts, s.error.cause.message])),
        [
          [2, 'bad data of 0 numbers'],
          [2, 'bad data of 1 numbers'],
          [1, 'bad data of 2 numbers'],
          [1, 'bad data of 3 numbers'],
        ],
      );
    },
  );
});

/**
 * The `key` option on real workers: items of one key never run at the same time and come in
 * their key's order; keys run side by side.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { from, lastValueFrom, toArray } from 'rxjs';
import { createPool, task } from 'rxpool';
import { parallelMap } from 'rxpool/operators';
import { fixture } from './_helpers.js';

const pool = createPool({ size: 2 });
after(() => pool.close());
const T = { timeout: 60_000 };

interface Item {
  readonly shared: SharedArrayBuffer;
  readonly key: number;
  readonly i: number;
}
const track = task<Item, number>(fixture('keyed.mjs'), 'track');

function items(n: number, keys: number): Item[] {
  const shared = new SharedArrayBuffer(16 * Int32Array.BYTES_PER_ELEMENT);
  return Array.from({ length: n }, (_, i) => ({ shared, key: i % keys, i }));
}

describe('key on workers', () => {
  it('pool.map: one item of a key at a time, results in input order', T, async () => {
    const inputs = items(60, 3);
    const results = await pool.map(track, inputs, { key: (x) => x.key, concurrency: 64 });
    assert.deepEqual(
      results,
      inputs.map((x) => x.i),
    );
    const cells = new Int32Array(inputs[0]!.shared);
    for (let key = 0; key < 3; key++) assert.equal(cells[8 + key], 1, `key ${key} overlapped`);
  });

  it("unordered: each key's results in its source order", T, async () => {
    const inputs = items(60, 4);
    const results = await lastValueFrom(
      from(inputs).pipe(
        parallelMap(track, { pool, key: (x) => x.key, ordered: false, concurrency: 64 }),
        toArray(),
      ),
    );
    for (let key = 0; key < 4; key++) {
      const mine = results.filter((i) => i % 4 === key);
      assert.deepEqual(
        mine,
        [...mine].sort((a, b) => a - b),
      );
    }
    const cells = new Int32Array(inputs[0]!.shared);
    for (let key = 0; key < 4; key++) assert.equal(cells[8 + key], 1, `key ${key} overlapped`);
  });
});

/**
 * Per-key order on real workers, both runtimes: items of one key never run at once (a lock
 * directory per key, taken with `mkdirSync`, fails the item if they do) and start in source order
 * (each key's log); output order rules; different keys run together (a barrier of two, threads).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { firstValueFrom, from, toArray } from 'rxjs';
import { createPool, TaskError, task } from 'rxpool';
import { parallelMap, parallelSettle } from 'rxpool/operators';
import { barrier, fixture, shared } from './_helpers.js';

interface Item {
  dir: string;
  k: string;
  i: number;
  ms: number;
}

const keyed = task<Item, number>(fixture('keyed.mjs'));
const T = { timeout: 60_000 };
const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** 48 items over 4 keys in a shuffled pattern, in a fresh directory. */
function items(): Item[] {
  const dir = mkdtempSync(join(tmpdir(), 'rxpool-keys-'));
  dirs.push(dir);
  return Array.from({ length: 48 }, (_, i) => ({ dir, k: `user${(i * 7) % 4}`, i, ms: 2 }));
}

/** Each key's log holds its items in source order. */
function assertLogs(inputs: Item[]): void {
  for (const k of new Set(inputs.map((x) => x.k))) {
    const log = readFileSync(join(inputs[0]!.dir, `${k}.log`), 'utf8')
      .trim()
      .split('\n');
    assert.deepEqual(
      log.map(Number),
      inputs.filter((x) => x.k === k).map((x) => x.i),
      `${k} ran in source order, one at a time`,
    );
  }
}

for (const runtime of ['thread', 'process'] as const) {
  describe(`key on ${runtime} workers`, () => {
    const pool = createPool({ size: 3, runtime });
    after(() => pool.destroy());
    const key = (x: Item) => x.k;

    it(
      'parallelMap, ordered: output in source order; each key one at a time, in order',
      T,
      async () => {
        const inputs = items();
        const out = await firstValueFrom(
          from(inputs).pipe(parallelMap(keyed, { pool, key }), toArray()),
        );
        assert.deepEqual(
          out,
          inputs.map((x) => x.i),
        );
        assertLogs(inputs);
      },
    );

    it('pool.imap, unordered: each key results in its source order', T, async () => {
      const inputs = items();
      const out: number[] = [];
      for await (const i of pool.imap(keyed, inputs, { key, ordered: false, concurrency: 8 })) {
        out.push(i);
      }
      assert.deepEqual(
        [...out].sort((a, b) => a - b),
        inputs.map((x) => x.i),
      );
      for (const k of new Set(inputs.map((x) => x.k))) {
        const ofKey = out.filter((i) => inputs[i]!.k === k);
        assert.deepEqual(
          ofKey,
          inputs.filter((x) => x.k === k).map((x) => x.i),
        );
      }
      assertLogs(inputs);
    });

    it('pool.map and batches: every result in place', T, async () => {
      const inputs = items();
      assert.deepEqual(
        await pool.map(keyed, inputs, { key, batchSize: 8 }),
        inputs.map((x) => x.i),
      );
      assertLogs(inputs);
    });

    it(
      'pool.starmap and pool.imapSettled take it too (starmap: the key of the argument list)',
      T,
      async () => {
        const inputs = items();
        assert.deepEqual(
          await pool.starmap(
            task<readonly [Item], number>(fixture('keyed.mjs')),
            inputs.map((x) => [x] as const),
            { key: ([x]) => x.k },
          ),
          inputs.map((x) => x.i),
        );
        assertLogs(inputs);
        const again = items();
        const settled: number[] = [];
        for await (const r of pool.imapSettled(keyed, again, { key, ordered: false })) {
          assert.ok(r.ok);
          settled.push(r.value);
        }
        for (const k of new Set(again.map((x) => x.k))) {
          assert.deepEqual(
            settled.filter((i) => again[i]!.k === k),
            again.filter((x) => x.k === k).map((x) => x.i),
          );
        }
        assertLogs(again);
      },
    );

    it('parallelSettle: an item whose key throws fails alone; the pool goes on', T, async () => {
      const inputs = items().slice(0, 8);
      const out = await firstValueFrom(
        from(inputs).pipe(
          parallelSettle(keyed, {
            pool,
            key: (x) => {
              if (x.i === 3) throw new Error('no user for item 3');
              return x.k;
            },
          }),
          toArray(),
        ),
      );
      assert.deepEqual(
        out.map((r) => r.ok),
        inputs.map((x) => x.i !== 3),
      );
      const failure = out[3]!;
      assert.ok(!failure.ok && failure.error instanceof TaskError);
      assert.equal((failure.error.cause as Error).message, 'no user for item 3');
      assert.equal(await pool.run((n: number) => n + 1, 1), 2);
    });
  });
}

describe('key on thread workers: different keys run at the same time', () => {
  const pool = createPool({ size: 2 });
  after(() => pool.destroy());

  it('two items of different keys meet at a barrier of two', T, async () => {
    const { shared: buffer } = shared();
    const inputs = ['a', 'b'].map((k) => ({ shared: buffer, parties: 2, k }));
    const out = await pool.map(barrier, inputs, { key: (x) => x.k, batchSize: 1 });
    assert.deepEqual(out, [true, true]);
  });
});

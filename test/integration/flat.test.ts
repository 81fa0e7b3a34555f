/**
 * Flat tasks on real workers, threads and processes: values come while the task runs, in order
 * (later items running meanwhile) or as they arrive, under credit (`highWaterMark`); a break,
 * take(n) or an error downstream returns the running iterators in their workers (their `finally`
 * blocks run there) and never starts the queued items; failures after values, `emitted`, retries
 * only before the first value, `timeout` per value, Observables, `move`, inline generators.
 * Fixtures (test/fixtures/flat.mjs) report through files and shared cells.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { from, lastValueFrom, map, takeWhile, tap, toArray } from 'rxjs';
import { createPool, type Pool, TaskError, TaskTimeoutError, task } from 'rxpool';
import { parallelFlatMap, parallelFlatSettle } from 'rxpool/operators';
import { fixture, serves, shared, waitForCell, within } from './_helpers.js';

const T = { timeout: 60_000 };
const flat = (name: string) => task<any, Iterable<any>>(fixture('flat.mjs'), name);

const dir = mkdtempSync(join(tmpdir(), 'rxpool-flat-'));
const pools: Pool[] = [];
after(async () => {
  await Promise.all(pools.map((pool) => pool.destroy()));
  rmSync(dir, { recursive: true, force: true });
});

function pool(runtime: 'thread' | 'process', size = 2): Pool {
  const p = createPool({ size, runtime });
  pools.push(p);
  return p;
}

/** Resolves once `path` exists; fails the test after `ms`. */
async function appears(path: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`${path} did not appear within ${ms} ms`);
    await sleep(5);
  }
}

let unique = 0;
const name = (what: string) => `${what}-${unique++}`;

for (const runtime of ['thread', 'process'] as const) {
  describe(`flat tasks, runtime: '${runtime}'`, () => {
    const p = pool(runtime);

    it('a value reaches the caller while its task still runs', T, async () => {
      const go = join(dir, name('go'));
      const seen: string[] = [];
      const loop = (async () => {
        for await (const value of p.imapFlat(flat('twoSteps'), [{ go }])) {
          seen.push(value);
          // The task waits for this file before its second value: the first came while it ran.
          if (value === 'first') writeFileSync(go, '');
        }
      })();
      await within(loop, 20_000, 'the loop');
      assert.deepEqual(seen, ['first', 'second']);
    });

    it(
      'break out of imapFlat returns the running iterator in its worker; queued items never start',
      T,
      async () => {
        const one = pool(runtime, 1);
        const names = [name('a'), name('b'), name('c')];
        const got: string[] = [];
        for await (const value of one.imapFlat(
          flat('endless'),
          names.map((n) => ({ name: n, dir })),
        )) {
          got.push(value);
          if (got.length === 3) break;
        }
        assert.deepEqual(got, [`${names[0]}:0`, `${names[0]}:1`, `${names[0]}:2`]);
        await appears(join(dir, `ended-${names[0]}`));
        assert.equal(await serves(one), 42);
        assert.ok(!existsSync(join(dir, `started-${names[1]}`)), 'b never started');
        assert.ok(!existsSync(join(dir, `started-${names[2]}`)), 'c never started');
      },
    );

    it("an abort by imapFlat's signal returns the running iterator in its worker", T, async () => {
      const a = name('a');
      const controller = new AbortController();
      const got: string[] = [];
      await assert.rejects(
        (async () => {
          for await (const value of p.imapFlat(flat('endless'), [{ name: a, dir }], {
            signal: controller.signal,
          })) {
            got.push(value);
            if (got.length === 2) controller.abort(new Error('enough'));
          }
        })(),
        (error: unknown) => (error as Error).name === 'AbortError',
      );
      assert.deepEqual(got, [`${a}:0`, `${a}:1`]);
      await appears(join(dir, `ended-${a}`));
    });

    it(
      'unsubscribing downstream (takeWhile) and an error downstream return every running iterator',
      T,
      async () => {
        const a = name('a');
        const b = name('b');
        // Until both items have given values (both run), then a few more.
        let seenA = false;
        let seenB = false;
        const values = await lastValueFrom(
          from([a, b].map((n) => ({ name: n, dir }))).pipe(
            parallelFlatMap(flat('endless'), { pool: p, ordered: false }),
            takeWhile((value: string) => {
              seenA ||= value.startsWith(`${a}:`);
              seenB ||= value.startsWith(`${b}:`);
              return !(seenA && seenB);
            }),
            toArray(),
          ),
        );
        assert.ok(values.length > 0);
        await appears(join(dir, `ended-${a}`));
        await appears(join(dir, `ended-${b}`));

        const c = name('c');
        await assert.rejects(
          lastValueFrom(
            from([{ name: c, dir }]).pipe(
              parallelFlatMap(flat('endless'), { pool: p }),
              map((value: string) => {
                if (value.endsWith(':100')) throw new Error('downstream');
                return value;
              }),
            ),
          ),
          /downstream/,
        );
        await appears(join(dir, `ended-${c}`));
        assert.equal(await serves(p), 42);
      },
    );

    it("a failure comes after the item's values, with emitted; the pool goes on", T, async () => {
      const values: number[] = [];
      let error: unknown;
      try {
        for await (const value of p.imapFlat(flat('breaks'), [3])) values.push(value);
      } catch (e) {
        error = e;
      }
      assert.deepEqual(values, [0, 1, 2]);
      assert.ok(error instanceof TaskError);
      assert.equal(error.emitted, 3);
      assert.equal(error.cause.name, 'RangeError');
      assert.equal(await serves(p), 42);
    });

    it('an item whose values went out is not retried', T, async () => {
      const values: number[] = [];
      let error: unknown;
      await new Promise<void>((resolve) => {
        from([3])
          .pipe(parallelFlatMap(flat('breaks'), { pool: p, retry: 2 }))
          .subscribe({
            next: (value: number) => values.push(value),
            error: (e) => {
              error = e;
              resolve();
            },
          });
      });
      assert.deepEqual(values, [0, 1, 2]);
      assert.ok(error instanceof TaskError);
      assert.equal(error.attempts, 1, 'values were emitted: not retried');
      assert.equal(error.emitted, 3);
    });

    it('parallelFlatSettle: one record per value, a failure record after them', T, async () => {
      const records = await lastValueFrom(
        from([2, 1]).pipe(parallelFlatSettle(flat('breaks'), { pool: p }), toArray()),
      );
      assert.deepEqual(
        records.map((s) =>
          s.ok ? `${s.index}:${s.value}` : `${s.index}:failed:${s.error.emitted}`,
        ),
        ['0:0', '0:1', '0:failed:2', '1:0', '1:failed:1'],
      );
    });

    it('timeout bounds each wait for a value, not the item', T, async () => {
      // Four values 100 ms apart under a timeout of 2 s each: 400 ms in all is fine.
      const ok = await lastValueFrom(
        from([{ n: 4, ms: 100 }]).pipe(
          parallelFlatMap(flat('paced'), { pool: p, timeout: 2_000 }),
          toArray(),
        ),
      );
      assert.deepEqual(ok, [0, 1, 2, 3]);
      const values: number[] = [];
      let error: unknown;
      try {
        for await (const value of p.imapFlat(flat('paced'), [{ n: 4, ms: 1, hangAt: 2 }], {
          timeout: 300,
          retry: 2,
        })) {
          values.push(value);
        }
      } catch (e) {
        error = e;
      }
      assert.deepEqual(values, [0, 1]);
      assert.ok(error instanceof TaskTimeoutError);
      assert.equal(error.emitted, 2);
      assert.equal(error.attempts, 1);
      assert.equal(await serves(p), 42);
    });

    it('an Observable from a task module, and inline generator functions', T, async () => {
      const fromObservable = await lastValueFrom(
        from([3, 2]).pipe(parallelFlatMap(flat('observable'), { pool: p }), toArray()),
      );
      assert.deepEqual(fromObservable, [0, 1, 2, 0, 1]);
      const inline = await lastValueFrom(
        from(['a b', 'c']).pipe(
          parallelFlatMap(
            function* (line: string) {
              for (const word of line.split(' ')) yield word.toUpperCase();
            },
            { pool: p },
          ),
          toArray(),
        ),
      );
      assert.deepEqual(inline, ['A', 'B', 'C']);
      const asyncInline: number[] = [];
      for await (const v of p.imapFlat(
        async function* (n: number) {
          for (let i = 0; i < n; i++) yield await Promise.resolve(i * n);
        },
        [2, 3],
      )) {
        asyncInline.push(v);
      }
      assert.deepEqual(asyncInline, [0, 2, 0, 3, 6]);
      const arrays = await lastValueFrom(
        from([1, 2]).pipe(
          parallelFlatMap((n: number) => [n, n * 10], { pool: p }),
          toArray(),
        ),
      );
      assert.deepEqual(arrays, [1, 10, 2, 20]);
    });

    it("the task's context is its second argument, a generator's too", T, async () => {
      const seen: unknown[] = [];
      for await (const v of p.imapFlat(
        function* (n: number, context: { index: number; attempt: number; workerId: number }) {
          for (let i = 0; i < n; i++) yield [context.index, context.attempt, context.workerId > 0];
        },
        [1, 2],
      )) {
        seen.push(v);
      }
      assert.deepEqual(seen, [
        [0, 1, true],
        [1, 1, true],
        [1, 1, true],
      ]);
      // A break: the generator, awaiting its signal, hears the abort, then its finally runs.
      const file = join(dir, name('signal'));
      for await (const v of p.imapFlat(
        async function* (path: string, context: { signal: AbortSignal }) {
          try {
            yield 1;
            await new Promise((resolve) =>
              context.signal.addEventListener('abort', resolve, { once: true }),
            );
            yield 2;
          } finally {
            const fs = await import('node:fs');
            fs.writeFileSync(`${path}.tmp`, String(context.signal.aborted));
            fs.renameSync(`${path}.tmp`, path);
          }
        },
        [file],
      )) {
        assert.equal(v, 1);
        break;
      }
      await appears(file);
      assert.equal(readFileSync(file, 'utf8'), 'true');
    });

    it('many small values flow, in order, across items', T, async () => {
      const values = await lastValueFrom(
        from([30_000, 1, 0, 20_000]).pipe(parallelFlatMap(flat('records'), { pool: p }), toArray()),
      );
      assert.equal(values.length, 50_001);
      const expected = [30_000, 1, 0, 20_000].flatMap((n) =>
        Array.from({ length: n }, (_, i) => ({ i, even: i % 2 === 0 })),
      );
      assert.deepEqual(values, expected);
    });

    it(
      'an item that ended reaches the caller while the next item of its batch waits for its first value',
      T,
      async () => {
        // Pairs of items: one of numbers, then one that yields only once the caller has the
        // other's last value. There are enough of them that some pairs run in one batch.
        const one = pool(runtime, 1);
        const pairs = Array.from({ length: 8 }, (_, k) => ({
          values: [k * 10 + 1, k * 10 + 2],
          go: join(dir, name('go')),
        }));
        const got = await lastValueFrom(
          from(pairs.flatMap(({ values, go }) => [{ values }, { go }])).pipe(
            parallelFlatMap(flat('endsOrWaits'), { pool: one, batchSize: 4 }),
            tap((value) => {
              const pair = pairs.find(({ values }) => values[1] === value);
              if (pair) writeFileSync(pair.go, '');
            }),
            toArray(),
          ),
        );
        assert.deepEqual(
          got,
          pairs.flatMap(({ values }) => [...values, 'after']),
        );
      },
    );

    it('a value that cannot be cloned fails its item, not the pool', T, async () => {
      const values: unknown[] = [];
      await assert.rejects(
        (async () => {
          for await (const v of p.imapFlat(flat('uncloneable'), [0], { retry: 1 })) values.push(v);
        })(),
        (error: unknown) => error instanceof TaskError && /function/i.test(error.message),
      );
      assert.deepEqual(values, [1]);
      assert.equal(await serves(p), 42);
    });

    it('a value its channel cannot copy fails the item after the values before it', T, async () => {
      // A function goes nowhere; a SharedArrayBuffer goes to a thread but not to a child process.
      const values: unknown[] = [];
      let error: unknown;
      try {
        for await (const v of p.imapFlat(
          function* (shared: boolean) {
            yield 'a';
            yield 'b';
            yield shared ? new SharedArrayBuffer(8) : () => {};
          },
          [runtime === 'process'],
        )) {
          values.push(v);
        }
      } catch (e) {
        error = e;
      }
      assert.deepEqual(values, ['a', 'b']);
      assert.ok(error instanceof TaskError, String(error));
      assert.equal(error.emitted, 2);
      assert.match(error.message, runtime === 'process' ? /SharedArrayBuffer/ : /function/);
      assert.equal(await serves(p), 42);
    });

    it('the work must return values: a clear TaskError otherwise', T, async () => {
      await assert.rejects(
        lastValueFrom(from([1]).pipe(parallelFlatMap((n: number) => n as never, { pool: p }))),
        (error: unknown) =>
          error instanceof TaskError && /not an array, an iterable/.test(error.message),
      );
    });
  });
}

describe('flat tasks, thread runtime only (shared memory)', () => {
  const p = pool('thread');

  it('highWaterMark: the worker does not pull past the mark while the loop waits', T, async () => {
    const { shared: buffer, cells } = shared();
    const it = p.imapFlat(flat('counted'), [buffer], { highWaterMark: 16 })[Symbol.asyncIterator]();
    for (let i = 0; i < 10; i++) assert.equal((await it.next()).value, i);
    // It may pull up to the mark beyond what the loop took...
    await waitForCell(cells, 0, 10 + 8);
    // ...and no more, however long the loop waits.
    await sleep(300);
    const pulled = Atomics.load(cells, 0);
    assert.ok(pulled <= 10 + 16, `pulled ${pulled} with 10 taken and a mark of 16`);
    await it.return!();
  });

  it(
    'ordered: a later item runs while the first does, and its values wait their turn',
    T,
    async () => {
      const { shared: buffer } = shared();
      const values = await lastValueFrom(
        from([
          { shared: buffer, first: true, n: 2 },
          { shared: buffer, first: false, n: 3 },
        ]).pipe(parallelFlatMap(flat('eager'), { pool: p }), toArray()),
      );
      assert.deepEqual(values, ['first:0', 'first:1', 'later:0', 'later:1', 'later:2']);
    },
  );

  it('retry: an attempt that failed before its first value runs again', T, async () => {
    const { shared: buffer, cells } = shared();
    const values = await lastValueFrom(
      from([buffer]).pipe(parallelFlatMap(flat('flaky'), { pool: p, retry: 1 }), toArray()),
    );
    assert.deepEqual(values, ['attempt 2']);
    assert.equal(Atomics.load(cells, 2), 2);
  });

  it('move: values move their buffers out of the worker', T, async () => {
    const values = await lastValueFrom(
      from([{ n: 3, bytes: 1 << 16 }]).pipe(
        parallelFlatMap(flat('buffers'), { pool: p }),
        toArray(),
      ),
    );
    assert.deepEqual(
      values.map((v: { i: number; out: Uint8Array }) => [v.i, v.out.byteLength, v.out[0]]),
      [
        [0, 1 << 16, 0],
        [1, 1 << 16, 1],
        [2, 1 << 16, 2],
      ],
    );
  });
});

/**
 * A custom executor written against the public interface only (test/fixtures/
 * main-thread-executor.mjs, shown in full in the README) runs every operator and Pool method:
 * order, failures, retries and timeouts are the engine's whatever the executor.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { from, lastValueFrom, toArray } from 'rxjs';
import {
  createPool,
  DEFAULT_CONCURRENCY,
  type Executor,
  type Settled,
  TaskError,
  TaskTimeoutError,
  task,
} from 'rxpool';
import { parallelMap, parallelSettle } from 'rxpool/operators';
import { fixture } from './_helpers.js';

const { MainThreadExecutor } = (await import(fixture('main-thread-executor.mjs').href)) as {
  MainThreadExecutor: new () => Executor;
};

const squareSlowly = async (n: number) => {
  // Later items finish first: order must be restored by the engine.
  await new Promise((resolve) => setTimeout(resolve, (20 - n) % 7));
  return n * n;
};
const failOdd = (n: number) => {
  if (n % 2) throw new Error(`${n} is odd`);
  return n;
};
const inputs = Array.from({ length: 20 }, (_, i) => i);
const squares = inputs.map((n) => n * n);

function pool() {
  return createPool({ executor: new MainThreadExecutor() });
}

describe('a custom executor (the README one)', () => {
  it('is the README code, verbatim', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const code = await readFile(fixture('main-thread-executor.mjs'), 'utf8');
    assert.ok(readme.includes(code), 'README.md shows test/fixtures/main-thread-executor.mjs');
  });

  it('parallelMap: in order, and unordered', async () => {
    const p = pool();
    const ordered = await lastValueFrom(
      from(inputs).pipe(parallelMap(squareSlowly, { pool: p, concurrency: 8 }), toArray()),
    );
    assert.deepEqual(ordered, squares);
    const unordered = await lastValueFrom(
      from(inputs).pipe(
        parallelMap(squareSlowly, { pool: p, concurrency: 8, ordered: false }),
        toArray(),
      ),
    );
    assert.deepEqual(
      [...unordered].sort((a, b) => a - b),
      squares,
    );
    await p.close();
  });

  it('parallelSettle: every item, failures in place', async () => {
    const p = pool();
    const settled = await lastValueFrom(
      from([1, 2, 3, 4]).pipe(parallelSettle(failOdd, { pool: p }), toArray()),
    );
    assert.deepEqual(
      settled.map((s: Settled<number, number>) => (s.ok ? s.value : s.error.cause.message)),
      ['1 is odd', 2, '3 is odd', 4],
    );
    await p.close();
  });

  it('map, starmap, run, imap, imapSettled', async () => {
    const p = pool();
    assert.deepEqual(await p.map(squareSlowly, inputs), squares);
    assert.deepEqual(
      await p.starmap(
        (a: number, b: number) => a ** b,
        [
          [2, 3],
          [10, 2],
        ],
      ),
      [8, 100],
    );
    assert.equal(await p.run((n: number) => n + 1, 41), 42);
    const imapped: number[] = [];
    for await (const value of p.imap(squareSlowly, inputs, { concurrency: 6 })) {
      imapped.push(value);
    }
    assert.deepEqual(imapped, squares);
    const outcomes: unknown[] = [];
    for await (const s of p.imapSettled(failOdd, [2, 3, 4])) outcomes.push(s.ok ? s.value : 'x');
    assert.deepEqual(outcomes, [2, 'x', 4]);
    await p.close();
  });

  it('a module task by reference', async () => {
    const p = pool();
    const power = task<[number, number], number>(fixture('star.mjs'));
    assert.deepEqual(await p.starmap(power, [[2, 10]]), [1024]);
    const double = task<number, number>(fixture('square.mjs'), 'double');
    assert.deepEqual(await p.map(double, [1, 2]), [2, 4]);
    await p.close();
  });

  it('failures reject with a TaskError, retries charge every failed attempt', async () => {
    const p = pool();
    await assert.rejects(p.run(failOdd, 3), (error: unknown) => {
      assert.ok(error instanceof TaskError);
      assert.equal((error.cause as Error).message, '3 is odd');
      assert.equal(error.attempts, 1);
      return true;
    });
    const flaky = (n: number) => {
      const g = globalThis as { tries?: number };
      g.tries = (g.tries ?? 0) + 1;
      if (g.tries < 3) throw new Error('not yet');
      return n;
    };
    assert.equal(await p.run(flaky, 7, { retry: 2 }), 7);
    assert.equal(p.stats().failed, 3);
    assert.equal(p.stats().size, 2);
    await p.close();
  });

  it('timeouts: the engine times items through current() and aborts the one overdue', async () => {
    const p = pool();
    const sleepy = (ms: number) => new Promise((resolve) => setTimeout(() => resolve(ms), ms));
    const settled = [];
    for await (const s of p.imapSettled(sleepy, [1, 400, 2, 3], { timeout: 100, batchSize: 4 })) {
      settled.push(s.ok ? s.value : s.error);
    }
    assert.equal(settled[0], 1);
    assert.ok(settled[1] instanceof TaskTimeoutError);
    assert.deepEqual(settled.slice(2), [2, 3]);
    await p.close();
  });
});

describe('createPool({ executor }) validation', () => {
  it('refuses the default executor options with an executor', () => {
    assert.throws(
      () => createPool({ executor: new MainThreadExecutor(), size: 2 }),
      /`size` configures the default executor: with `executor` given, configure your executor instead/,
    );
    assert.throws(
      () => createPool({ executor: new MainThreadExecutor(), runtime: 'process', maxHeapMb: 64 }),
      /`runtime`, `maxHeapMb` configure the default executor/,
    );
  });

  it('says what is missing or wrong', () => {
    assert.throws(
      () => createPool({ executor: 42 as never }),
      /Expected `executor` to be an object that implements the Executor interface, got `42` \(number\)/,
    );
    const good = new MainThreadExecutor();
    const without = (key: string, value: unknown) =>
      Object.assign(Object.create(Object.getPrototypeOf(good)), good, { [key]: value });
    assert.throws(
      () => createPool({ executor: without('run', undefined) }),
      /Expected `executor.run` to be a function, got `undefined`/,
    );
    assert.throws(
      () => createPool({ executor: without('size', 0) }),
      /Expected `executor.size` to be an integer from 1 up, got `0` \(number\)/,
    );
    assert.throws(
      () =>
        createPool({
          executor: without('traits', {
            targetBatchMs: 0,
            enforcesTimeouts: false,
            knowsPosition: true,
          }),
        }),
      /Expected `executor.traits.targetBatchMs` to be a number of ms above 0, got `0` \(number\)/,
    );
    assert.throws(
      () =>
        createPool({
          executor: without('traits', {
            targetBatchMs: 8,
            enforcesTimeouts: 'no',
            knowsPosition: true,
          }),
        }),
      /Expected `executor.traits.enforcesTimeouts` to be a boolean, got `'no'` \(string\)/,
    );
    assert.throws(
      () =>
        createPool({
          executor: without('traits', {
            targetBatchMs: 8,
            enforcesTimeouts: false,
            knowsPosition: true,
            concurrency: 0.5,
          }),
        }),
      /Expected `executor.traits.concurrency` to be an integer from 1 up, `Infinity` or `undefined`, got `0.5` \(number\)/,
    );
  });

  it("a stream that sets no concurrency holds the executor's default window, else its own", async () => {
    // An executor that never finishes a batch: imap reads exactly the window, and stops.
    const holding = (concurrency: number | undefined): Executor => ({
      size: 2,
      traits: { targetBatchMs: 8, enforcesTimeouts: false, knowsPosition: true, concurrency },
      capacity: () => 2,
      run: () => ({ current: () => undefined, abort: () => {} }),
      close: async () => {},
      destroy: async () => {},
    });
    const admitted = async (traitWindow: number | undefined, concurrency: number | undefined) => {
      const p = createPool({ executor: holding(traitWindow) });
      let read = 0;
      function* endless() {
        for (;;) yield read++;
      }
      const it = p.imap(
        (n: number) => n,
        endless(),
        concurrency === undefined ? {} : { concurrency },
      );
      // Never settles while the pool lives: nothing is ever reported; destroy rejects it.
      const first = it.next().catch(() => undefined);
      // Reading stops at the window: wait until it has not moved for 100 ms (a loaded machine
      // reads 16,384 items in slices over several turns).
      for (let last = -1; last !== read; ) {
        last = read;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await p.destroy();
      await first;
      return read;
    };
    assert.equal(await admitted(100, undefined), 100);
    assert.equal(await admitted(100, 7), 7);
    assert.equal(await admitted(undefined, undefined), DEFAULT_CONCURRENCY);
  });
});

/**
 * The Pool's own faces and life: run / map / imap, close, destroy, Symbol.asyncDispose, stats.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lastValueFrom, map, of, range, toArray } from 'rxjs';
import { createPool, type Pool, TaskError, task } from 'rxpool';
import { parallelMap } from 'rxpool/operators';
import {
  fixture,
  hold,
  newPool,
  release,
  STARTED,
  shared,
  waitForCell,
  within,
} from './_helpers.js';

const T = { timeout: 60_000 };

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('run, map and imap', () => {
  it('pool.run resolves with the result of one item', T, async () => {
    const pool = newPool(2);
    assert.equal(await pool.run((n: number) => n * n, 12), 144);
    assert.deepEqual(
      await pool.run((o: { a: number[] }) => ({ sum: o.a[0]! + o.a[1]! }), { a: [1, 2] }),
      {
        sum: 3,
      },
    );
  });

  it('pool.map resolves with every result in input order', T, async () => {
    const pool = newPool(2);
    const inputs = Array.from({ length: 100 }, (_, i) => i);
    assert.deepEqual(
      await pool.map((n: number) => n * 3, inputs),
      inputs.map((n) => n * 3),
    );
    assert.deepEqual(await pool.map((n: number) => n, []), []);
  });

  it('pool.imap yields every result in input order', T, async () => {
    const pool = newPool(2);
    const results: number[] = [];
    for await (const value of pool.imap(
      task<number, number>(fixture('plain.mjs'), 'double'),
      [5, 6, 7],
    )) {
      results.push(value);
    }
    assert.deepEqual(results, [10, 12, 14]);
  });

  it('pool.map rejects with the failed item’s TaskError', T, async () => {
    const pool = newPool(2);
    await assert.rejects(
      pool.map(
        (n: number) => {
          if (n === 3) throw new Error(`no ${n}`);
          return n;
        },
        [1, 2, 3, 4],
      ),
      (error: unknown) =>
        error instanceof TaskError &&
        error.index === 2 &&
        error.input === 3 &&
        error.cause.message === 'no 3',
    );
    assert.equal(await pool.run((n: number) => n + 1, 1), 2);
  });
});

describe('close', () => {
  it('finishes accepted work, then refuses new work with a clear error', T, async () => {
    const pool = newPool(1);
    const { shared: buffer, cells } = shared();
    const running = pool.run(hold, { shared: buffer, value: 'held' });
    const waiting = pool.map((n: number) => n + 1, [1, 2, 3]);
    await waitForCell(cells, STARTED, 1);
    assert.equal(pool.stats().queued, 3);

    let closed = false;
    const closing = pool.close().then(() => {
      closed = true;
    });
    const refused = /closed.*no new work/;
    await assert.rejects(
      pool.run((n: number) => n, 1),
      refused,
    );
    await assert.rejects(
      pool.map((n: number) => n, [1]),
      refused,
    );
    await assert.rejects(
      lastValueFrom(of(1).pipe(parallelMap((n: number) => n, { pool }))),
      refused,
    );
    await tick();
    assert.equal(closed, false, 'close() resolved while accepted work was still running');

    release(cells);
    assert.equal(await within(running, 10_000, 'the running item'), 'held');
    assert.deepEqual(await within(waiting, 10_000, 'the queued items'), [2, 3, 4]);
    await within(closing, 10_000, 'close()');
    assert.equal(closed, true);
    await assert.rejects(
      pool.run((n: number) => n, 1),
      refused,
    );
  });

  it('resolves at once on a pool that never ran anything', T, async () => {
    const pool = newPool(1);
    await within(pool.close(), 5_000, 'close()');
    await assert.rejects(
      pool.run((n: number) => n, 1),
      /closed/,
    );
  });
});

describe('destroy', () => {
  it('fails pending work with an AbortError-named error, and refuses new work', T, async () => {
    const pool = newPool(1);
    const { shared: buffer, cells } = shared();
    const running = pool.run(hold, { shared: buffer, value: 'never' });
    const queued = pool.run((n: number) => n, 1);
    const mapped = pool.map((n: number) => n, [1, 2]);
    const streamed = lastValueFrom(of(1, 2).pipe(parallelMap((n: number) => n, { pool })));
    const outcomes = Promise.allSettled([running, queued, mapped, streamed]);
    await waitForCell(cells, STARTED, 1);

    await within(pool.destroy(), 10_000, 'destroy()');
    for (const outcome of await outcomes) {
      assert.equal(outcome.status, 'rejected');
      assert.equal((outcome as PromiseRejectedResult).reason?.name, 'AbortError');
    }
    await assert.rejects(
      pool.run((n: number) => n, 1),
      { name: 'AbortError' },
    );
    assert.equal(Atomics.load(cells, STARTED), 1);
  });
});

describe('Symbol.asyncDispose', () => {
  it('closes the pool at the end of an `await using` block, after its work', T, async () => {
    const { shared: buffer, cells } = shared();
    let outside: Pool | undefined;
    let accepted: Promise<unknown> | undefined;
    {
      await using pool = createPool({ size: 1 });
      outside = pool;
      accepted = pool.run(hold, { shared: buffer, value: 'kept' });
      await waitForCell(cells, STARTED, 1);
      release(cells);
    }
    assert.equal(await accepted, 'kept');
    await assert.rejects(
      outside.run((n: number) => n, 1),
      /closed/,
    );
  });

  it('is the same as close()', T, async () => {
    const pool = newPool(1);
    const { shared: buffer, cells } = shared();
    const running = pool.run(hold, { shared: buffer, value: 'done' });
    await waitForCell(cells, STARTED, 1);
    let disposed = false;
    const disposing = pool[Symbol.asyncDispose]().then(() => {
      disposed = true;
    });
    await assert.rejects(
      pool.run((n: number) => n, 1),
      /closed/,
    );
    await tick();
    assert.equal(disposed, false);
    release(cells);
    assert.equal(await running, 'done');
    await within(disposing, 10_000, 'asyncDispose');
  });
});

describe('stats', () => {
  it('counts size, busy, queued, completed and failed', T, async () => {
    const pool = newPool(2);
    const none = { p50: 0, p90: 0, p99: 0, max: 0, count: 0 };
    assert.deepEqual(pool.stats(), {
      size: 2,
      busy: 0,
      queued: 0,
      completed: 0,
      failed: 0,
      utilization: 0,
      throughput: 0,
      runTime: none,
      waitTime: none,
    });

    const { shared: buffer, cells } = shared();
    const held = [
      pool.run(hold, { shared: buffer, value: 1 }),
      pool.run(hold, { shared: buffer, value: 2 }),
    ];
    await waitForCell(cells, STARTED, 2);
    const waiting = pool.map((n: number) => n, [3, 4, 5]);
    const busy = pool.stats();
    assert.equal(busy.size, 2);
    assert.equal(busy.busy, 2);
    assert.equal(busy.queued, 3);
    assert.equal(busy.completed, 0);

    release(cells);
    assert.deepEqual(await Promise.all(held), [1, 2]);
    assert.deepEqual(await waiting, [3, 4, 5]);
    await assert.rejects(
      pool.run(() => {
        throw new Error('boom');
      }, 0),
      TaskError,
    );
    assert.deepEqual(await pool.map((n: number) => n, [1, 2, 3, 4, 5]), [1, 2, 3, 4, 5]);
    const after = pool.stats();
    const { utilization, throughput, runTime, waitTime, ...counts } = after;
    assert.deepEqual(counts, { size: 2, busy: 0, queued: 0, completed: 10, failed: 1 });
    assert.ok(utilization > 0 && utilization <= 1, `utilization ${utilization}`);
    assert.ok(throughput > 0, `throughput ${throughput}`);
    // The two held items ran until release(): the slowest run times are theirs.
    assert.ok(runTime.p99 >= runTime.p50 && runTime.p50 >= 0);
    assert.ok(runTime.p99 > 1, `runTime p99 ${runTime.p99}`);
    // The three mapped items waited behind the held ones.
    assert.ok(waitTime.p99 >= waitTime.p90 && waitTime.p90 >= waitTime.p50);
    assert.ok(waitTime.p99 > 1, `waitTime p99 ${waitTime.p99}`);
    // Every item that ran was measured once (the failed one too); max bounds the percentiles.
    assert.equal(runTime.count, 11);
    assert.equal(waitTime.count, 11);
    assert.ok(runTime.max >= runTime.p99 && waitTime.max >= waitTime.p99);
  });
});

describe('workers between bursts of work', () => {
  const worker = async () => (await import('node:worker_threads')).threadId;
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('keeps its workers over a pause by default, and serves again at once', T, async () => {
    const pool = newPool(1);
    const before = await pool.run(worker, null);
    // Longer than a worker stays held for the pool after its last batch.
    await pause(300);
    assert.equal(await within(pool.run(worker, null), 10_000, 'pool.run'), before);
    assert.deepEqual(await pool.map((n: number) => n * 3, [1, 2, 3]), [3, 6, 9]);
  });

  it(
    'with idleTimeout, stops a worker idle that long and starts a new one for new work',
    T,
    async () => {
      const pool = createPool({ size: 1, idleTimeout: 100 });
      try {
        const before = await pool.run(worker, null);
        await pause(800);
        const after = await within(pool.run(worker, null), 10_000, 'pool.run');
        assert.notEqual(after, before, 'the idle worker should have been replaced');
        assert.deepEqual(await pool.map((n: number) => n * 3, [1, 2, 3]), [3, 6, 9]);
      } finally {
        await pool.close();
      }
    },
  );
});

describe('how many workers a stream keeps busy', () => {
  const threadAfter = task<number, number>(fixture('threads.mjs'), 'threadAfter');
  const faults = fixture('faults.mjs');
  /** How many of `threads` each thread id has. */
  const tally = (threads: readonly number[]) => {
    const counts = new Map<number, number>();
    for (const id of threads) counts.set(id, (counts.get(id) ?? 0) + 1);
    return counts;
  };
  /** A long stream of items that take the workers next to no time. */
  const trivial = (pool: Pool, n = 200_000) =>
    lastValueFrom(
      range(0, n).pipe(
        parallelMap(() => 0, { pool }),
        toArray(),
      ),
    );

  it('gives items that keep the workers mostly idle to one of them', T, async () => {
    const pool = newPool(2);
    const quick = () =>
      lastValueFrom(
        range(0, 200_000).pipe(
          map(() => 0),
          parallelMap(threadAfter, { pool }),
          toArray(),
        ),
      );
    // The first batches of a stream, before any was measured, go to both (and the first stream
    // of a pool runs on code not yet compiled); on both, a fast worker is often free first anyway.
    await quick();
    const threads = await quick();
    const most = Math.max(...tally(threads).values());
    assert.ok(most >= 0.95 * threads.length, `one thread ran ${most} of ${threads.length}`);
    // In order, each batch is a run of items on one thread: in the second half, no batch went to
    // the other worker. (Sent to both, they take turns there ten to twenty times.)
    let turns = 0;
    for (let i = threads.length / 2; i < threads.length; i++) {
      if (threads[i] !== threads[i - 1]) turns++;
    }
    assert.ok(turns <= 2, `the threads took turns ${turns} times in the second half`);
  });

  it('moves a batch that turns out long off the worker it waits behind', T, async () => {
    const pool = newPool(2);
    const spun = task<number, { thread: number; start: number }>(fixture('threads.mjs'), 'spun');
    // Quick items first, so that batches are thought short and go to one worker, one waiting
    // behind the other; then batches of ten 25 ms items. (The first 4 items go alone, one a slot,
    // before anything is measured; batches of 10 follow, so the slow ones begin a batch.)
    const quick = 3004;
    const inputs = [...Array(quick).fill(0), ...Array(40).fill(25)];
    const runs = await lastValueFrom(
      of(...inputs).pipe(parallelMap(spun, { pool, batchSize: 10 }), toArray()),
    );
    const slow = runs.slice(quick);
    const first = slow[0]!;
    assert.equal(new Set(slow.slice(0, 10).map((r) => r.thread)).size, 1, 'one batch, one thread');
    // The next batch waited behind it on the same worker: it moved to the idle one within
    // tens of ms, instead of waiting the 250 ms that the first takes.
    const other = slow.filter((r) => r.thread !== first.thread);
    assert.ok(other.length > 0, 'the other worker ran none of the slow items');
    const startedAfter = Math.min(...other.map((r) => r.start)) - first.start;
    assert.ok(startedAfter < 150, `the other worker began ${startedAfter} ms after the first`);
  });

  it(
    'after quick items, gives every worker work again for items that wait for each other',
    T,
    async () => {
      const pool = newPool(3);
      await trivial(pool);
      const cells = new SharedArrayBuffer(4);
      const met = await within(
        pool.map(task(faults, 'meet'), Array(3).fill({ shared: cells, parties: 3 })),
        20_000,
        'a meeting of three',
      );
      assert.deepEqual(
        met.map((m) => (m as { met: boolean }).met),
        [true, true, true],
      );
      assert.equal(new Set(met.map((m) => (m as { thread: number }).thread)).size, 3);
    },
  );
});

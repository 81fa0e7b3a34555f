/**
 * pool.imap and pool.map over endless generators and Node Readables: bounded pulling (at most
 * `concurrency` items held), closing the input on an early exit, order, and completion order; an
 * input that throws (what it gave comes out first), a sync input read in slices, and a break that
 * leaves the workers up.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { createPool, type Pool, type Progress, type Settled, TaskError, task } from 'rxpool';
import { fixture, shared, within } from './_helpers.js';

// A fresh pool for each test: a test that stops early must not leave its stopped workers to the
// next test (see the cancel tests for why that matters today).
let pool: Pool;
beforeEach(() => {
  pool = createPool({ size: 2 });
});
afterEach(() => pool.destroy());

const T = { timeout: 30_000 };
const CONCURRENCY = 8;

/** Waits a few ms that depend on the input, so that items finish out of order. */
const jittered = async (n: number) => {
  await new Promise((resolve) => setTimeout(resolve, (n * 7) % 11));
  return n * 10;
};

describe('pool.imap over an endless input', () => {
  it('pulls a sync generator only as far as the window, and closes it on break', T, async () => {
    let pulls = 0;
    let closed = false;
    function* naturals() {
      try {
        for (let i = 0; ; i++) {
          pulls++;
          yield i;
        }
      } finally {
        closed = true;
      }
    }
    const results: number[] = [];
    for await (const value of pool.imap(jittered, naturals(), { concurrency: CONCURRENCY })) {
      results.push(value);
      assert.ok(
        pulls <= results.length + CONCURRENCY,
        `pulled ${pulls} times after ${results.length} results`,
      );
      if (results.length === 60) break;
    }
    assert.equal(closed, true, "the generator's finally did not run");
    assert.deepEqual(
      results,
      Array.from({ length: 60 }, (_, i) => i * 10),
    );
    assert.ok(pulls <= 60 + CONCURRENCY, `pulled ${pulls} times for 60 results`);
  });

  it('pulls an async generator only as far as the window, and closes it on break', T, async () => {
    let pulls = 0;
    let resolveClosed: () => void = () => {};
    const closed = new Promise<void>((resolve) => {
      resolveClosed = resolve;
    });
    async function* naturals() {
      try {
        for (let i = 0; ; i++) {
          pulls++;
          yield i;
        }
      } finally {
        resolveClosed();
      }
    }
    const square = task<number, number>(fixture('plain.mjs'));
    const results: number[] = [];
    for await (const value of pool.imap(square, naturals(), { concurrency: CONCURRENCY })) {
      results.push(value);
      assert.ok(
        pulls <= results.length + CONCURRENCY,
        `pulled ${pulls} times after ${results.length} results`,
      );
      if (results.length === 40) break;
    }
    // Whether the finally has run when the loop exits is the next test's matter.
    await within(closed, 5_000, "the generator's finally");
    assert.deepEqual(
      results,
      Array.from({ length: 40 }, (_, i) => i * i),
    );
  });

  it('has closed an async generator by the time the loop has exited', T, async () => {
    // Each value takes a turn of the event loop, as input read from I/O does, so a pull is
    // pending when the loop breaks. A plain `for await` over the generator would have run its
    // finally before the loop exits; imap must not give less.
    let closed = false;
    async function* naturals() {
      try {
        for (let i = 0; ; i++) {
          await new Promise((resolve) => setImmediate(resolve));
          yield i;
        }
      } finally {
        closed = true;
      }
    }
    let count = 0;
    for await (const _ of pool.imap((n: number) => n, naturals(), { concurrency: CONCURRENCY })) {
      if (++count === 10) break;
    }
    assert.equal(closed, true, "the generator's finally had not run when the loop exited");
  });

  it('closes the generator when the loop throws', T, async () => {
    let closed = false;
    function* naturals() {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        closed = true;
      }
    }
    await assert.rejects(async () => {
      for await (const value of pool.imap((n: number) => n, naturals(), { concurrency: 4 })) {
        if (value === 5) throw new Error('consumer gave up');
      }
    }, /consumer gave up/);
    assert.equal(closed, true);
  });
});

describe('a break out of pool.imap stops its batches, not its workers', () => {
  it(
    '20 breaks out of an endless stream of short items leave the same two workers',
    T,
    async () => {
      const threadAfter = task<number, number>(fixture('threads.mjs'), 'threadAfter');
      function* zeros() {
        for (;;) yield 0;
      }
      const threads = new Set<number>();
      for (let round = 0; round < 20; round++) {
        for await (const thread of pool.imap(threadAfter, zeros())) {
          threads.add(thread);
          break;
        }
      }
      // Each worker says its thread (broadcast: once on every worker, whatever the load): a
      // worker stopped by a break would have been replaced by one with a new thread id.
      for (const thread of await pool.broadcast(threadAfter, 0)) threads.add(thread);
      assert.equal(threads.size, 2, `items ran on threads ${[...threads].join(', ')}`);
    },
  );
});

describe('pool.imap order', () => {
  const inputs = Array.from({ length: 40 }, (_, i) => i);

  it('yields results in input order by default', T, async () => {
    const results: number[] = [];
    for await (const value of pool.imap(jittered, inputs, { concurrency: CONCURRENCY })) {
      results.push(value);
    }
    assert.deepEqual(
      results,
      inputs.map((n) => n * 10),
    );
  });

  it('yields a permutation of the results with ordered: false', T, async () => {
    const results: number[] = [];
    for await (const value of pool.imap(jittered, inputs, { ordered: false, concurrency: 8 })) {
      results.push(value);
    }
    assert.equal(results.length, inputs.length);
    assert.deepEqual(
      [...results].sort((a, b) => a - b),
      inputs.map((n) => n * 10),
    );
  });

  it('pool.map resolves with all results in input order', T, async () => {
    assert.deepEqual(
      await pool.map(jittered, inputs, { concurrency: 8 }),
      inputs.map((n) => n * 10),
    );
  });

  it('imapSettled yields failures in their place and goes on', T, async () => {
    const half = (n: number) => {
      if (n % 3 === 0) throw new Error(`${n} is a multiple of 3`);
      return n / 2;
    };
    const out: Settled<number, number>[] = [];
    for await (const s of pool.imapSettled(half, inputs, { concurrency: CONCURRENCY })) out.push(s);
    assert.deepEqual(
      out.map((s) => s.index),
      inputs,
    );
    for (const s of out) {
      assert.equal(s.input, s.index);
      if (s.ok) assert.equal(s.value, s.input / 2);
      else {
        assert.equal(s.input % 3, 0);
        assert.ok(s.error instanceof TaskError);
        assert.equal(s.error.cause.message, `${s.input} is a multiple of 3`);
      }
    }
    assert.equal(out.filter((s) => !s.ok).length, 14);
  });

  it('reports progress, with the array length as total, and a final report', T, async () => {
    const reports: Progress[] = [];
    const results = await pool.map(jittered, inputs, {
      concurrency: 8,
      progress: (p) => reports.push(p),
    });
    assert.equal(results.length, inputs.length);
    const last = reports.at(-1)!;
    assert.equal(last.final, true);
    assert.deepEqual([last.done, last.failed, last.inFlight, last.total], [40, 0, 0, 40]);
    assert.ok(last.rate > 0 && last.elapsedMs > 0);
    assert.equal(last.etaMs, 0);
    assert.equal(reports.filter((p) => p.final).length, 1);
    for (let i = 1; i < reports.length; i++) {
      assert.ok(reports[i]!.done >= reports[i - 1]!.done, 'done never goes back');
    }
  });
});

/** An object-mode Readable that produces `count` records on demand. */
class Records extends Readable {
  next = 0;
  constructor(private readonly count: number) {
    super({ objectMode: true, highWaterMark: 2 });
  }

  override _read(): void {
    if (this.next >= this.count) {
      this.push(null);
      return;
    }
    const id = this.next++;
    this.push({ id, name: `record ${id}` });
  }
}

describe('pool.imap and pool.map over a Node Readable in object mode', () => {
  const upper = (record: { id: number; name: string }) => ({
    id: record.id,
    name: record.name.toUpperCase(),
  });
  const expected = (count: number) =>
    Array.from({ length: count }, (_, id) => ({ id, name: `RECORD ${id}` }));

  it('imap over Readable.from([...])', T, async () => {
    const results: number[] = [];
    for await (const value of pool.imap((n: number) => n + 1, Readable.from([1, 2, 3, 4, 5]), {
      concurrency: 3,
    })) {
      results.push(value);
    }
    assert.deepEqual(results, [2, 3, 4, 5, 6]);
  });

  it('map over Readable.from([...])', T, async () => {
    const records = expected(20).map(({ id }) => ({ id, name: `record ${id}` }));
    assert.deepEqual(await pool.map(upper, Readable.from(records)), expected(20));
  });

  it('imap over a custom objectMode Readable', T, async () => {
    const results: unknown[] = [];
    for await (const value of pool.imap(upper, new Records(30), { concurrency: 4 })) {
      results.push(value);
    }
    assert.deepEqual(results, expected(30));
  });

  it('map over a custom objectMode Readable', T, async () => {
    assert.deepEqual(await pool.map(upper, new Records(25), { concurrency: 5 }), expected(25));
  });

  it(
    'reads an endless Readable only as far as the window, and destroys it on break',
    T,
    async () => {
      const stream = new Records(Number.POSITIVE_INFINITY);
      const results: unknown[] = [];
      for await (const value of pool.imap(upper, stream, { concurrency: CONCURRENCY })) {
        results.push(value);
        if (results.length === 30) break;
      }
      assert.deepEqual(results, expected(30));
      // The stream buffers up to its highWaterMark ahead of what imap took.
      assert.ok(stream.next <= 30 + CONCURRENCY + 2, `read ${stream.next} records`);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(stream.destroyed, true, 'the Readable was not destroyed');
    },
  );
});

/** Runs the loop to its end; returns what it yielded and what it threw. */
async function drain<T>(iterable: AsyncIterable<T>): Promise<{ out: T[]; error: unknown }> {
  const out: T[] = [];
  try {
    for await (const value of iterable) out.push(value);
  } catch (error) {
    return { out, error };
  }
  return { out, error: undefined };
}

describe('pool.imap when its input throws', () => {
  const boom = new Error('the input broke');
  function* broken() {
    yield 0;
    yield 1;
    yield 2;
    throw boom;
  }
  async function* brokenAsync() {
    yield* broken();
  }
  const square = (n: number) => n * n;

  for (const concurrency of [1, 2, Infinity]) {
    it(
      `yields the results of the items read before, in order, then the error (concurrency ${concurrency})`,
      T,
      async () => {
        // Python's imap gives 0, 1, 4 and then raises.
        const { out, error } = await drain(pool.imap(square, broken(), { concurrency }));
        assert.deepEqual(out, [0, 1, 4]);
        assert.equal(error, boom);
      },
    );
  }

  it('the same with an async input', T, async () => {
    const { out, error } = await drain(pool.imap(square, brokenAsync(), { concurrency: 2 }));
    assert.deepEqual(out, [0, 1, 4]);
    assert.equal(error, boom);
  });

  it('ordered: false yields every result of the items read before, then the error', T, async () => {
    const { out, error } = await drain(pool.imap(jittered, broken(), { ordered: false }));
    assert.deepEqual(
      [...out].sort((a, b) => a - b),
      [0, 10, 20],
    );
    assert.equal(error, boom);
  });

  it('imapSettled yields every outcome of the items read before, then the error', T, async () => {
    const half = (n: number) => {
      if (n === 1) throw new Error('one is odd');
      return n / 2;
    };
    const { out, error } = await drain(pool.imapSettled(half, broken()));
    assert.deepEqual(
      out.map((s) => [s.index, s.ok]),
      [
        [0, true],
        [1, false],
        [2, true],
      ],
    );
    assert.equal(error, boom);
  });

  it('an item that failed before the input did ends the loop first', T, async () => {
    const failAtOne = (n: number) => {
      if (n === 1) throw new Error('one');
      return n;
    };
    const { out, error } = await drain(pool.imap(failAtOne, broken(), { concurrency: 4 }));
    assert.deepEqual(out, [0]);
    assert.ok(error instanceof TaskError && error.index === 1);
  });

  it(
    'pool.map rejects with the error of its input, after the items read ran, leaving nothing running',
    T,
    async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      try {
        const { shared: buffer, cells } = shared();
        function* inputs() {
          for (let i = 0; i < 5; i++) {
            yield { i, buffer };
          }
          throw boom;
        }
        await assert.rejects(
          pool.map((x: { i: number; buffer: SharedArrayBuffer }) => {
            Atomics.add(new Int32Array(x.buffer), 0, 1);
            return x.i;
          }, inputs()),
          (error) => error === boom,
        );
        assert.equal(Atomics.load(cells, 0), 5, 'every item read before the failure ran');
        await new Promise((resolve) => setTimeout(resolve, 50));
        const stats = pool.stats();
        assert.deepEqual([stats.busy, stats.queued], [0, 0]);
        assert.deepEqual(unhandled, []);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    },
  );
});

describe('pool.imap holds at most `concurrency` items', () => {
  for (const [name, settled, ordered] of [
    ['imap', false, true],
    ['imap unordered', false, false],
    ['imapSettled', true, true],
  ] as const) {
    for (const concurrency of [1, 2, 5]) {
      it(
        `${name}, concurrency ${concurrency}: read = taken + concurrency while the loop body runs`,
        T,
        async () => {
          let reads = 0;
          function* counted() {
            for (let i = 0; i < 12; i++) {
              reads++;
              yield i;
            }
          }
          const options = { concurrency, ordered };
          const loop = settled
            ? pool.imapSettled((n: number) => n, counted(), options)
            : pool.imap((n: number) => n, counted(), options);
          let taken = 0;
          for await (const _ of loop) {
            taken++;
            // Time for the results behind it to come back, and for any read they would allow.
            await new Promise((resolve) => setTimeout(resolve, 20));
            assert.equal(reads, Math.min(12, taken + concurrency), `after ${taken} taken`);
          }
          assert.equal(taken, 12);
        },
      );
    }
  }
});

describe('pool.imap reads a sync input in slices', () => {
  /** An endless input whose every item costs `us` µs of this thread (a parser, say). */
  function* slow(state: { reads: number; closed: boolean }, us = 20) {
    try {
      for (let i = 0; ; i++) {
        const until = performance.now() + us / 1000;
        while (performance.now() < until);
        state.reads++;
        yield i;
      }
    } finally {
      state.closed = true;
    }
  }

  it('gives the event loop a turn long before the window (16,384) is read', T, async () => {
    const state = { reads: 0, closed: false };
    const iterator = pool.imap((n: number) => n * 2, slow(state));
    const first = iterator.next();
    // Before, the first next() read the whole window (16,384 items, 330 ms here) at once.
    const readInFirstTurn = state.reads;
    assert.ok(readInFirstTurn < 1_000, `read ${readInFirstTurn} items in the first turn`);
    const result = await first;
    assert.deepEqual(result, { value: 0, done: false });
    assert.ok(state.reads < 16_384, `read ${state.reads} items before the first result`);
    await iterator.return!();
    assert.equal(state.closed, true);
  });

  it(
    'a break after the first result: most of the window unread, nothing read after',
    T,
    async () => {
      const state = { reads: 0, closed: false };
      let brokeAt = 0;
      for await (const _ of pool.imap((n: number) => n, slow(state))) {
        brokeAt = performance.now();
        break;
      }
      const exitMs = performance.now() - brokeAt;
      assert.equal(state.closed, true);
      const reads = state.reads;
      assert.ok(reads < 16_384, `read ${reads} items for one result`);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(state.reads, reads, 'read on after the break');
      assert.ok(exitMs < 1_000, `the loop took ${exitMs} ms to exit after the break`);
    },
  );
});

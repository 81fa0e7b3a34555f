/**
 * Unsubscribing (and aborting) stops work for real: a runaway task's worker is stopped and
 * replaced, and the pool goes on as if nothing happened.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { from, lastValueFrom, of, take, toArray } from 'rxjs';
import { AbortError, TaskError } from 'rxpool';
import { parallelMap } from 'rxpool/operators';
import {
  ARRIVED,
  barrier,
  newPool,
  PULSE,
  STARTED,
  serves,
  shared,
  spinForever,
  waitForCell,
  within,
} from './_helpers.js';

const T = { timeout: 60_000 };

/** Signals that it started, then never returns. */
const runaway = (buffer: SharedArrayBuffer): never => {
  const cells = new Int32Array(buffer);
  Atomics.add(cells, 0, 1);
  Atomics.notify(cells, 0);
  for (;;) {
    Atomics.add(cells, 3, 1);
  }
};

interface Slow {
  readonly shared: SharedArrayBuffer;
  readonly i: number;
}

describe('unsubscribing stops running work', () => {
  it('stops a forever-running task, and its worker is replaced', T, async () => {
    const pool = newPool(1);
    const { shared: buffer, cells } = shared();
    const events: string[] = [];
    const subscription = of(buffer)
      .pipe(parallelMap(runaway, { pool }))
      .subscribe({
        next: () => events.push('next'),
        error: (error) => events.push(`error ${String(error)}`),
        complete: () => events.push('complete'),
      });
    await waitForCell(cells, STARTED, 1);
    await waitForCell(cells, PULSE, 1);
    subscription.unsubscribe();
    assert.equal(await serves(pool), 42);
    assert.deepEqual(events, []);
    assert.equal(pool.stats().busy, 0);
  });

  it("stops a runaway task() module when pool.run's signal aborts", T, async () => {
    const pool = newPool(1);
    const { shared: buffer, cells } = shared();
    const controller = new AbortController();
    const running = pool.run(spinForever, buffer, { signal: controller.signal });
    await waitForCell(cells, STARTED, 1);
    controller.abort();
    await assert.rejects(running, { name: 'AbortError' });
    assert.equal(await serves(pool), 42);
  });

  it('take(1) on a stream of slow items stops the rest (pool of 1)', T, async () => {
    const pool = newPool(1);
    const { shared: buffer, cells } = shared();
    const slow = ({ shared, i }: Slow) => {
      const cells = new Int32Array(shared);
      Atomics.add(cells, 0, 1);
      Atomics.notify(cells, 0);
      if (i === 0) return 'first';
      for (;;) {
        Atomics.add(cells, 3, 1);
      }
    };
    const results = await within(
      lastValueFrom(
        from([0, 1, 2, 3].map((i) => ({ shared: buffer, i }))).pipe(
          parallelMap(slow, { pool }),
          take(1),
          toArray(),
        ),
      ),
      10_000,
      'the first result',
    );
    assert.deepEqual(results, ['first']);
    assert.equal(await serves(pool), 42);
    assert.ok(Atomics.load(cells, STARTED) <= 2, 'a later item ran after take(1) ended the stream');
  });

  it('take(1) stops an item that is really running (pool of 2)', T, async () => {
    const pool = newPool(2);
    const { shared: buffer, cells } = shared();
    // Item 0 returns only once item 1 is running (and never will return): so when take(1) ends
    // the stream, a worker is certainly busy with item 1.
    const slow = ({ shared, i }: Slow) => {
      const cells = new Int32Array(shared);
      if (i === 0) {
        const deadline = Date.now() + 10_000;
        while (Atomics.load(cells, 0) === 0) {
          if (Date.now() > deadline) throw new Error('item 1 never started');
          Atomics.wait(cells, 0, 0, 100);
        }
        return 'first';
      }
      Atomics.add(cells, 0, 1);
      Atomics.notify(cells, 0);
      for (;;) {
        Atomics.add(cells, 3, 1);
      }
    };
    const results = await within(
      lastValueFrom(
        from([0, 1].map((i) => ({ shared: buffer, i }))).pipe(
          parallelMap(slow, { pool, batchSize: 1, concurrency: 2 }),
          take(1),
          toArray(),
        ),
      ),
      10_000,
      'the first result',
    );
    assert.deepEqual(results, ['first']);
    assert.equal(Atomics.load(cells, STARTED), 1);
    // Both workers must be free: two items that wait for each other complete only when they run
    // at the same time.
    const meeting = shared();
    const met = await within(
      pool.map(
        barrier,
        [0, 1].map(() => ({ shared: meeting.shared, parties: 2 })),
        { batchSize: 1 },
      ),
      15_000,
      'the barrier',
    );
    assert.deepEqual(met, [true, true]);
    assert.equal(Atomics.load(meeting.cells, ARRIVED), 2);
  });
});

describe('stopping work whose result is already on its way', () => {
  // Tinypool, when a task is aborted, removes and terminates its worker; but if that worker had
  // already posted the task's result, the late reply marks the dying worker available again and
  // tinypool hands it the next queued task, which then fails with "Terminating worker thread".
  // rxpool must not let that reach an unrelated item.
  it('does not fail the next item on the pool (pool.run with a signal)', T, async () => {
    const pool = newPool(1);
    const { shared: buffer, cells } = shared();
    const quick = (b: SharedArrayBuffer) => {
      const c = new Int32Array(b);
      Atomics.add(c, 0, 1);
      Atomics.notify(c, 0);
      return 'quick';
    };
    assert.equal(await pool.run((x: number) => x, 0), 0); // the worker is up
    const controller = new AbortController();
    const aborted = pool.run(quick, buffer, { signal: controller.signal });
    // Block this thread until the task ran, and a little more so that its reply is posted but
    // not yet read; then abort.
    // 'not-equal': it had run before this thread got here (a busy machine).
    assert.notEqual(Atomics.wait(cells, STARTED, 0, 10_000), 'timed-out', 'the task ran');
    const until = Date.now() + 100;
    while (Date.now() < until) {
      // busy-wait: this thread must not read the reply yet
    }
    controller.abort();
    await assert.rejects(aborted, { name: 'AbortError' });
    assert.equal(await serves(pool), 42);
  });

  it('does not fail the next stream after an early break with fast items', T, async () => {
    const pool = newPool(2);
    for (let round = 0; round < 5; round++) {
      let count = 0;
      for await (const _ of pool.imap((n: number) => n, [...Array(1000).keys()], {
        concurrency: 8,
      })) {
        if (++count === 40) break;
      }
      assert.equal(
        await within(
          pool.run((x: number) => x * 2, 21),
          10_000,
          'pool.run',
        ),
        42,
      );
    }
  });
});

describe("an abort by signal rejects with rxpool's AbortError, the reason as its cause", () => {
  /**
   * What `promise` rejects with, checked to be an `AbortError` whose cause is `reason` (or, for a
   * signal that aborts later, `signal.reason`).
   */
  async function abortedWith(
    promise: Promise<unknown>,
    reason: unknown,
    signal?: AbortSignal,
  ): Promise<AbortError> {
    const error = await within(
      promise.then(
        () => assert.fail('expected the promise to reject'),
        (error: unknown) => error,
      ),
      10_000,
      'the aborted call',
    );
    assert.ok(error instanceof AbortError, `expected an AbortError, got ${String(error)}`);
    assert.ok(!(error instanceof TaskError), 'work called off is no item failure');
    assert.equal(error.name, 'AbortError');
    assert.equal(error.cause, signal ? signal.reason : reason);
    return error;
  }

  const never = (_: number) => new Promise<number>(() => {});

  it('pool.run: aborted before the call, and while the item runs', T, async () => {
    const pool = newPool(1);
    const reason = new Error('user left');
    const error = await abortedWith(
      pool.run(never, 1, { signal: AbortSignal.abort(reason) }),
      reason,
    );
    assert.equal(error.message, 'The operation was aborted: user left');
    // A signal that times out: the cause is its TimeoutError, which the message repeats.
    const timeout = AbortSignal.timeout(20);
    const timedOut = await abortedWith(pool.run(never, 1, { signal: timeout }), undefined, timeout);
    assert.equal((timedOut.cause as Error).name, 'TimeoutError');
    assert.equal(timedOut.message, 'The operation was aborted due to timeout');

    const { shared: buffer, cells } = shared();
    const controller = new AbortController();
    const running = pool.run(spinForever, buffer, { signal: controller.signal });
    await waitForCell(cells, STARTED, 1);
    controller.abort();
    const plain = await abortedWith(running, undefined, controller.signal);
    // abort() with no reason: the cause is the DOMException the signal made.
    assert.equal((plain.cause as Error).name, 'AbortError');
    assert.equal(plain.message, 'The operation was aborted');
    assert.equal(await serves(pool), 42);
  });

  it(
    'pool.map, pool.imap and pool.imapSettled: before the call, and while items run',
    T,
    async () => {
      const pool = newPool(2);
      const items = [1, 2, 3];
      await abortedWith(pool.map(never, items, { signal: AbortSignal.abort('gone') }), 'gone');
      const controller = new AbortController();
      const mapped = pool.map(never, items, { signal: controller.signal });
      const imapped = pool.imap(never, items, { signal: controller.signal }).next();
      const settled = pool.imapSettled(never, items, { signal: controller.signal }).next();
      const reason = { why: 'a plain object' };
      setTimeout(() => controller.abort(reason), 50);
      const error = await abortedWith(mapped, reason);
      assert.equal(error.message, 'The operation was aborted');
      await abortedWith(imapped, reason);
      await abortedWith(settled, reason);
      assert.equal(await serves(pool), 42);
    },
  );
});

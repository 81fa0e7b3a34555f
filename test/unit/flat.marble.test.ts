/**
 * The flat faces in virtual time: RxJS TestScheduler marbles over the in-thread fake executor,
 * whose flat items give one value every `durations[input]` frames (1 when not listed) while they
 * have credit. Work functions are inline (compiled by the fake on this thread): those that count
 * attempts do it on `globalThis`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { catchError, map, type OperatorFunction, of, take, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  parallelFlatMap,
  parallelFlatSettle,
  recoverFailures,
  skipFailures,
  throwFailures,
} from '../../operators/index.js';
import { rxClock } from '../../operators/internal.js';
import { describeValue, TaskError, TaskTimeoutError } from '../../src/errors.js';
import { Pool } from '../../src/pool/pool.js';
import type { Settled } from '../../src/types.js';
import { FakeExecutor, fakePool } from '../support/fake-executor.js';

/** Two values per item: `a` gives a1, a2. */
const twice = (x: string) => [`${x}1`, `${x}2`];
/** Values without end. */
const endless = function* (x: string) {
  for (let i = 0; ; i++) yield `${x}${i}`;
};

function setup(durations: Record<string, number>, size = 2) {
  const scheduler = new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
  const { pool, executor } = fakePool({
    clock: rxClock,
    size,
    duration: (x: string) => durations[x] ?? 1,
  });
  return { scheduler, pool, executor };
}

const g = globalThis as { attempts?: Record<string, number> };

describe('parallelFlatMap in virtual time', () => {
  it('ordered: all of an item before the next, while the next runs (concatMapEager)', () => {
    const { scheduler, pool, executor } = setup({ a: 4, b: 1 });
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('ab|');
      // b runs at once (its values at 2 and 3) and waits for a (4, 8, done at 12).
      expectObservable(source.pipe(parallelFlatMap(twice, { pool }))).toBe(
        '4ms a 3ms b 3ms (cd|)',
        { a: 'a1', b: 'a2', c: 'b1', d: 'b2' },
      );
      expectSubscriptions(source.subscriptions).toBe('^-!');
    });
    assert.equal(executor.maxBusy, 2);
  });

  it('unordered: values as they come, interleaved (mergeMap)', () => {
    const { scheduler, pool } = setup({ a: 4, b: 1 });
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('ab|');
      expectObservable(source.pipe(parallelFlatMap(twice, { pool, ordered: false }))).toBe(
        '--xya 3ms b 3ms |',
        { a: 'a1', b: 'a2', x: 'b1', y: 'b2' },
      );
    });
  });

  it('concurrency bounds the items taken from the source, not their values', () => {
    for (const ordered of [true, false]) {
      const { scheduler, pool, executor } = setup({}, 4);
      scheduler.run(({ cold, expectObservable }) => {
        const source = cold('abc|');
        // One item at a time: b starts once a is out (its end at 3), c once b is out.
        expectObservable(
          source.pipe(parallelFlatMap(twice, { pool, concurrency: 1, ordered })),
        ).toBe('-xy-zw-uv|', { x: 'a1', y: 'a2', z: 'b1', w: 'b2', u: 'c1', v: 'c2' });
      });
      // Each item started after the one before had ended (its batch may still be reporting).
      assert.deepEqual(executor.started, ['a', 'b', 'c']);
    }
  });

  it('items travel several to a batch once workers are busy; each ends on its own', () => {
    g.attempts = {};
    const { scheduler, pool, executor } = setup({}, 1);
    const out: string[] = [];
    scheduler.run(() => {
      cold$(scheduler, 'abcdef|')
        .pipe(
          parallelFlatMap(
            function* (x: string) {
              const n = ((globalThis as any).attempts[x] ?? 0) + 1;
              (globalThis as any).attempts[x] = n;
              // c fails before its first value on its first attempt, in the middle of a batch.
              if (x === 'c' && n === 1) throw new Error('flaky');
              yield `${x}1`;
              yield `${x}2`;
            },
            { pool, retry: 1 },
          ),
        )
        .subscribe((v) => out.push(v));
    });
    assert.deepEqual(out, ['a1', 'a2', 'b1', 'b2', 'c1', 'c2', 'd1', 'd2', 'e1', 'e2', 'f1', 'f2']);
    assert.ok(
      executor.batches.some((batch) => batch.length > 1),
      `batches: ${JSON.stringify(executor.batches)}`,
    );
  });

  it('highWaterMark: an item behind a slow head is not pulled past the mark', () => {
    const { scheduler, pool, executor } = setup({ a: 10, b: 1 });
    let pulledEarly: number | undefined;
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('ab|');
      const flat = source.pipe(
        parallelFlatMap(
          (x: string): (string | number)[] =>
            x === 'a' ? ['a1', 'a2'] : Array.from({ length: 50 }, (_, i) => i),
          {
            pool,
            highWaterMark: 4,
          },
        ),
      );
      expectObservable(flat.pipe(take(3))).toBe('10ms a 9ms b 9ms (c|)', {
        a: 'a1',
        b: 'a2',
        c: 0,
      });
      scheduler.schedule(() => {
        pulledEarly = executor.pulled.get('b');
      }, 15);
    });
    assert.equal(pulledEarly, 4);
  });

  it('highWaterMark: a slow consumer (pool.imapFlat) is never more than the mark behind', async () => {
    const executor = new FakeExecutor({ clock: realTimers, duration: () => 0 });
    const pool = new Pool({ executor });
    let seen = 0;
    let most = 0;
    for await (const value of pool.imapFlat(endless, ['a'], { highWaterMark: 8 })) {
      seen++;
      most = Math.max(most, executor.pulled.get('a')! - seen);
      assert.equal(value, `a${seen - 1}`);
      await new Promise((resolve) => setTimeout(resolve, 1));
      if (seen === 40) break;
    }
    assert.ok(most <= 8, `the worker ran ${most} values ahead of the loop`);
    assert.deepEqual(executor.returned, ['a']);
  });

  it('take(n) returns the running iterators and never starts the queued items', () => {
    const { scheduler, pool, executor } = setup({ a: 1, b: 1 }, 2);
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('abc|');
      expectObservable(source.pipe(parallelFlatMap(endless, { pool }), take(3))).toBe('-xy(z|)', {
        x: 'a0',
        y: 'a1',
        z: 'a2',
      });
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
    assert.deepEqual(executor.returned, ['a', 'b']);
    assert.deepEqual(executor.started, ['a', 'b']);
    assert.equal(executor.running, 0);
  });

  it('an error downstream returns the running iterators', () => {
    for (const ordered of [true, false]) {
      const { scheduler, pool, executor } = setup({}, 2);
      scheduler.run(({ cold, expectObservable }) => {
        const source = cold('a|');
        const out = source.pipe(
          parallelFlatMap(endless, { pool, ordered }),
          map((v) => {
            if (v === 'a2') throw new Error('downstream');
            return v;
          }),
        );
        expectObservable(out).toBe('-xy#', { x: 'a0', y: 'a1' }, new Error('downstream'));
      });
      assert.deepEqual(executor.returned, ['a']);
    }
  });

  it("a failed item's values come first, then its TaskError with emitted", () => {
    const { scheduler, pool } = setup({});
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('a|');
      const out = source.pipe(
        parallelFlatMap(
          function* (x: string) {
            yield `${x}1`;
            yield `${x}2`;
            throw new Error('broke');
          },
          { pool },
        ),
        catchError((error: TaskError<string>) =>
          of(`${error.name}:${error.index}:${error.emitted}:${error.cause.message}`),
        ),
      );
      expectObservable(out).toBe('-xy(e|)', { x: 'a1', y: 'a2', e: 'TaskError:0:2:broke' });
    });
  });

  it('TaskError.emitted counts the values emitted before the failure', () => {
    const { scheduler, pool } = setup({});
    let error: TaskError | undefined;
    scheduler.run(() => {
      cold$(scheduler, 'a|')
        .pipe(
          parallelFlatMap(
            function* (x: string) {
              yield `${x}1`;
              yield `${x}2`;
              throw new Error('broke');
            },
            { pool },
          ),
        )
        .subscribe({
          error: (e) => {
            error = e;
          },
        });
    });
    assert.ok(error instanceof TaskError);
    assert.equal(error.emitted, 2);
    assert.equal(error.attempts, 1);
  });

  it('retry: an attempt that failed before its first value runs again', () => {
    g.attempts = {};
    const { scheduler, pool, executor } = setup({});
    scheduler.run(({ cold, expectObservable }) => {
      const out = cold('a|').pipe(
        parallelFlatMap(
          function* (x: string) {
            const n = ((globalThis as any).attempts[x] ?? 0) + 1;
            (globalThis as any).attempts[x] = n;
            if (n === 1) throw new Error('flaky');
            yield `${x}${n}`;
          },
          { pool, retry: 1 },
        ),
      );
      expectObservable(out).toBe('--x|', { x: 'a2' });
    });
    assert.deepEqual(executor.started, ['a', 'a']);
  });

  it('retry: an attempt whose values were emitted is not run again', () => {
    g.attempts = {};
    const { scheduler, pool, executor } = setup({});
    let error: TaskError | undefined;
    const values: string[] = [];
    scheduler.run(() => {
      cold$(scheduler, 'a|')
        .pipe(
          parallelFlatMap(
            function* (x: string) {
              (globalThis as any).attempts[x] = ((globalThis as any).attempts[x] ?? 0) + 1;
              yield `${x}1`;
              throw new Error('late');
            },
            { pool, retry: 3 },
          ),
        )
        .subscribe({
          next: (v) => values.push(v),
          error: (e) => {
            error = e;
          },
        });
    });
    assert.deepEqual(values, ['a1']);
    assert.equal(error?.attempts, 1);
    assert.equal(error?.emitted, 1);
    assert.deepEqual(executor.started, ['a']);
  });

  it('retry, ordered: values held back behind the head are dropped, never emitted twice', () => {
    g.attempts = {};
    const { scheduler, pool } = setup({ a: 5 });
    scheduler.run(({ cold, expectObservable }) => {
      const out = cold('ab|').pipe(
        parallelFlatMap(
          function* (x: string) {
            if (x === 'a') {
              yield 'a1';
              return;
            }
            const n = ((globalThis as any).attempts[x] ?? 0) + 1;
            (globalThis as any).attempts[x] = n;
            yield `b${n}.1`;
            if (n === 1) throw new Error('flaky');
            yield `b${n}.2`;
          },
          { pool, retry: 1 },
        ),
      );
      // b's first attempt gave b1.1 and failed while a ran: it ran again, and only its second
      // attempt's values came out.
      expectObservable(out).toBe('5ms a 4ms (xy|)', { a: 'a1', x: 'b2.1', y: 'b2.2' });
    });
  });

  it('timeout bounds each wait for the next value, not the whole item', () => {
    const { scheduler, pool } = setup({ a: 3, b: 7 });
    scheduler.run(({ cold, expectObservable }) => {
      const many = (x: string) => [`${x}1`, `${x}2`, `${x}3`, `${x}4`];
      // a: 4 values 3 frames apart (12 in all) under a timeout of 5: no timeout.
      expectObservable(cold('a|').pipe(parallelFlatMap(many, { pool, timeout: 5 }))).toBe(
        '3ms a 2ms b 2ms c 2ms d 2ms |',
        { a: 'a1', b: 'a2', c: 'a3', d: 'a4' },
      );
    });
    const second = setup({ b: 7 });
    let error: unknown;
    second.scheduler.run(() => {
      cold$(second.scheduler, 'b|')
        .pipe(parallelFlatMap((x: string) => [x], { pool: second.pool, timeout: 5 }))
        .subscribe({
          error: (e) => {
            error = e;
          },
        });
    });
    assert.ok(error instanceof TaskTimeoutError);
  });

  it('timeout: time paused by highWaterMark does not count', () => {
    const { scheduler, pool } = setup({ a: 4, b: 1 });
    let error: unknown;
    const values: string[] = [];
    scheduler.run(() => {
      cold$(scheduler, 'ab|')
        .pipe(
          parallelFlatMap(
            (x: string) => (x === 'a' ? ['a1', 'a2', 'a3', 'a4', 'a5'] : ['b1', 'b2', 'b3']),
            { pool, timeout: 6, highWaterMark: 1 },
          ),
        )
        .subscribe({
          next: (v) => values.push(v),
          error: (e) => {
            error = e;
          },
        });
    });
    // b waited ~20 frames for credit behind a, more than its timeout of 6.
    assert.equal(error, undefined);
    assert.deepEqual(values, ['a1', 'a2', 'a3', 'a4', 'a5', 'b1', 'b2', 'b3']);
  });

  it('runs on an executor that streams; one that does not is refused with a clear error', () => {
    const clock = rxClock;
    const executor = new FakeExecutor({ clock });
    const plain = Object.create(executor) as FakeExecutor;
    Object.defineProperty(plain, 'traits', {
      value: { ...executor.traits, streams: undefined },
    });
    const pool = new Pool({ executor: plain });
    let error: unknown;
    const scheduler = new TestScheduler(assert.deepEqual);
    scheduler.run(() => {
      cold$(scheduler, 'a|')
        .pipe(parallelFlatMap(twice, { pool }))
        .subscribe({
          error: (e) => {
            error = e;
          },
        });
    });
    assert.ok(error instanceof TypeError);
    assert.match((error as Error).message, /cannot stream values/);
  });

  it('key: an item of a key starts after the one before it ended, not after its first value', () => {
    for (const ordered of [true, false]) {
      // a and c share a key; b has its own. a gives a value every 4 frames (ends at 8).
      const { scheduler, pool, executor } = setup({ a: 4 }, 4);
      const at: Record<string, number> = {};
      scheduler.run(() => {
        cold$(scheduler, 'abc|')
          .pipe(
            parallelFlatMap(twice, {
              pool,
              ordered,
              key: (x: string) => (x === 'b' ? 'k2' : 'k1'),
            }),
          )
          .subscribe((v) => {
            at[v] = scheduler.now();
          });
      });
      // a's values come at 4 and 8, its end at 12: c (a value a frame) starts only then, not
      // after a's first value; b, of another key, runs beside a.
      assert.equal(at.c1, 13, JSON.stringify(at));
      if (!ordered) assert.ok(at.b1! < at.a1!, JSON.stringify(at));
      assert.deepEqual(executor.started, ['a', 'b', 'c']);
      assert.deepEqual(Object.keys(at).sort(), ['a1', 'a2', 'b1', 'b2', 'c1', 'c2']);
    }
  });

  it('validates highWaterMark', () => {
    for (const bad of [0, 1.5, -1, '4', Number.NaN]) {
      assert.throws(
        () => parallelFlatMap(twice, { highWaterMark: bad as number }),
        new TypeError(
          `Expected \`highWaterMark\` to be an integer from 1 up, got ${describeValue(bad)}`,
        ),
      );
    }
    assert.throws(
      () => parallelFlatMap(twice, { highWaterMark: 4, oops: 1 } as never),
      /Unknown option `oops` for parallelFlatMap/,
    );
  });
});

describe('parallelFlatSettle in virtual time', () => {
  const failing = function* (x: string) {
    yield `${x}1`;
    if (x === 'b') throw new Error(`bad ${x}`);
    yield `${x}2`;
  };

  it('one Settled per value, and a failure record after the values of the item', () => {
    const { scheduler, pool } = setup({});
    const out: unknown[] = [];
    scheduler.run(() => {
      cold$(scheduler, 'abc|')
        .pipe(parallelFlatSettle(failing, { pool }))
        .subscribe((s) => out.push(s.ok ? [s.index, s.value] : [s.index, s.error.emitted]));
    });
    assert.deepEqual(out, [
      [0, 'a1'],
      [0, 'a2'],
      [1, 'b1'],
      [1, 1],
      [2, 'c1'],
      [2, 'c2'],
    ]);
  });

  it('the error operators work on it unchanged', () => {
    // Each on a pool of its own: b's value b1 at 3 (held behind a), its failure after it; c runs
    // once a worker is free.
    const check = (
      op: OperatorFunction<Settled<string, string>, unknown>,
      marble: string,
      values: object,
    ) => {
      const { scheduler, pool } = setup({});
      scheduler.run(({ cold, expectObservable }) => {
        expectObservable(cold('abc|').pipe(parallelFlatSettle(failing, { pool }), op)).toBe(
          marble,
          values,
        );
      });
    };
    check(skipFailures(), '-xyuvw|', { x: 'a1', y: 'a2', u: 'b1', v: 'c1', w: 'c2' });
    check(
      (s) =>
        s.pipe(
          recoverFailures(() => 'fallback'),
          toArray(),
        ),
      '6ms (x|)',
      { x: ['a1', 'a2', 'b1', 'fallback', 'c1', 'c2'] },
    );
    check(
      (s) =>
        s.pipe(
          throwFailures(),
          catchError((error: TaskError<string>) => of(`${error.index}:${error.cause.message}`)),
        ),
      '-xy(ue|)',
      { x: 'a1', y: 'a2', u: 'b1', e: '1:bad b' },
    );
  });
});

describe('flat properties', () => {
  const items = fc.array(fc.array(fc.integer({ min: 0, max: 99 }), { maxLength: 6 }), {
    maxLength: 12,
  });

  function run(
    inputs: number[][],
    durations: number[],
    options: { ordered: boolean; concurrency: number; highWaterMark: number },
  ): number[] {
    const scheduler = new TestScheduler(assert.deepEqual);
    // The input is an item's values: each item takes its own time per value.
    const executor = new FakeExecutor({
      clock: rxClock,
      size: 3,
      duration: (x: number[]) => durations[x.length % durations.length] ?? 1,
    });
    const pool = new Pool({ executor });
    const out: number[] = [];
    scheduler.run(() => {
      cold$(scheduler, inputs)
        .pipe(parallelFlatMap((x: number[]) => x, { pool, ...options }))
        .subscribe((v) => out.push(v));
    });
    return out;
  }

  const settings = fc.record({
    concurrency: fc.integer({ min: 1, max: 5 }),
    highWaterMark: fc.integer({ min: 1, max: 4 }),
  });
  const durations = fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 4 });

  it('ordered output equals input.flatMap(f)', () => {
    fc.assert(
      fc.property(items, durations, settings, (inputs, times, s) => {
        assert.deepEqual(run(inputs, times, { ...s, ordered: true }), inputs.flat());
      }),
    );
  });

  it('unordered output is a permutation of input.flatMap(f)', () => {
    fc.assert(
      fc.property(items, durations, settings, (inputs, times, s) => {
        const out = run(inputs, times, { ...s, ordered: false });
        const sort = (a: number[]) => [...a].sort((x, y) => x - y);
        assert.deepEqual(sort(out), sort(inputs.flat()));
      }),
    );
  });
});

/** Real timers, for a loop that waits on a real promise. */
const realTimers = {
  now: () => performance.now(),
  setTimeout(fn: () => void, ms: number) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

/** A cold observable of `values` (a marble string, or the values one a frame) on `scheduler`. */
function cold$<T = string>(scheduler: TestScheduler, values: string | T[]) {
  if (typeof values === 'string') return scheduler.createColdObservable<T>(values);
  const marble = `${values.map((_, i) => String.fromCharCode(0x100 + i)).join('')}|`;
  const map: Record<string, T> = {};
  values.forEach((v, i) => {
    map[String.fromCharCode(0x100 + i)] = v;
  });
  return scheduler.createColdObservable<T>(marble, map);
}

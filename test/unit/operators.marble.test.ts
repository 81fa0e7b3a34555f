/**
 * Operator semantics in virtual time: RxJS TestScheduler marbles over the in-thread fake executor.
 * Each item takes `durations[input]` frames (1 when not listed).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { catchError, from, map, of, take } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { parallelMap, parallelSettle } from '../../operators/index.js';
import { rxClock } from '../../operators/internal.js';
import { TaskError } from '../../src/errors.js';
import { fakePool } from '../support/fake-executor.js';

const upper = (x: string) => {
  if (x === 'e') throw new Error('bad e');
  return x.toUpperCase();
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

const orders = [true, false] as const;

describe('parallelMap in virtual time', () => {
  it('ordered: a slow head holds later results until it is done', () => {
    const { scheduler, pool } = setup({ a: 4, b: 1 });
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('ab|');
      expectObservable(source.pipe(parallelMap(upper, { pool, concurrency: 2 }))).toBe('4ms (AB|)');
    });
  });

  it('unordered: results in completion order', () => {
    const { scheduler, pool } = setup({ a: 4, b: 1 });
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('ab|');
      expectObservable(
        source.pipe(parallelMap(upper, { pool, concurrency: 2, ordered: false })),
      ).toBe('--B-(A|)');
    });
  });

  it('concurrency 1: one item at a time, the next taken only when the previous is out', () => {
    for (const ordered of orders) {
      const { scheduler, pool, executor } = setup({ a: 4, b: 1 });
      scheduler.run(({ cold, expectObservable }) => {
        const source = cold('ab|');
        expectObservable(source.pipe(parallelMap(upper, { pool, concurrency: 1, ordered }))).toBe(
          '4ms A(B|)',
        );
      });
      assert.equal(executor.maxBusy, 1);
    }
  });

  it('concurrency Infinity on one worker: items queue, then travel in a batch', () => {
    const { scheduler, pool, executor } = setup({ a: 2, b: 2, c: 2 }, 1);
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('abc|');
      expectObservable(source.pipe(parallelMap(upper, { pool, concurrency: Infinity }))).toBe(
        '--A---(BC|)',
      );
    });
    assert.deepEqual(executor.batches, [['a'], ['b', 'c']]);
  });

  it('concurrency 2 with three workers: never more than two items between source and output', () => {
    for (const ordered of orders) {
      const { scheduler, pool, executor } = setup({ a: 3, b: 3, c: 3 }, 3);
      scheduler.run(({ cold, expectObservable }) => {
        const source = cold('abc|');
        expectObservable(source.pipe(parallelMap(upper, { pool, concurrency: 2, ordered }))).toBe(
          '---AB-(C|)',
        );
      });
      assert.equal(executor.maxBusy, 2);
    }
  });

  it('completes only after the source completes and every item is out', () => {
    const { scheduler, pool } = setup({ a: 1 });
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('a-----|');
      expectObservable(source.pipe(parallelMap(upper, { pool }))).toBe('-A----|');
    });
  });

  it('a source error passes through at once and stops the running item', () => {
    for (const ordered of orders) {
      const { scheduler, pool, executor } = setup({ a: 5 });
      scheduler.run(({ cold, expectObservable }) => {
        const source = cold('a--#', undefined, new Error('source failed'));
        expectObservable(source.pipe(parallelMap(upper, { pool, ordered }))).toBe(
          '---#',
          undefined,
          new Error('source failed'),
        );
      });
      assert.deepEqual(executor.stopped, ['a']);
    }
  });

  it('ordered: a task error comes after every earlier result, and later items are cancelled', () => {
    const { scheduler, pool, executor } = setup({ a: 3, e: 1, c: 1 }, 3);
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('aecd|');
      const out = source.pipe(
        parallelMap(upper, { pool, concurrency: 3 }),
        catchError((error: TaskError<string>) => of(`${error.name}:${error.index}:${error.input}`)),
      );
      expectObservable(out).toBe('---(AE|)', { A: 'A', E: 'TaskError:1:e' });
    });
    // c finished at frame 3 after a (not emitted: cancelled); d never ran.
    assert.ok(!executor.started.includes('d'));
  });

  it('unordered: a task error fails the stream as soon as it is final', () => {
    const { scheduler, pool } = setup({ a: 3, e: 1 }, 3);
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('ae|');
      const out = source.pipe(
        parallelMap(upper, { pool, ordered: false }),
        catchError((error: TaskError<string>) => of(`${error.name}:${error.index}`)),
      );
      expectObservable(out).toBe('--(E|)', { E: 'TaskError:1' });
    });
  });

  it('unsubscribing stops running work and drops queued items', () => {
    for (const ordered of orders) {
      const { scheduler, pool, executor } = setup({ a: 10, b: 10, c: 10 }, 2);
      scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('abc---|');
        expectObservable(source.pipe(parallelMap(upper, { pool, ordered })), '^----!').toBe('');
        expectSubscriptions(source.subscriptions).toBe('^----!');
      });
      assert.deepEqual(executor.stopped.sort(), ['a', 'b']);
      assert.ok(!executor.started.includes('c'), 'the queued item never ran');
    }
  });

  it('a synchronous source with take(n) downstream stops after n results', () => {
    for (const concurrency of [1, 2, Infinity]) {
      const { scheduler, pool, executor } = setup({});
      scheduler.run(({ expectObservable }) => {
        const source = from(['a', 'b', 'c', 'd', 'e', 'f']);
        expectObservable(
          source.pipe(
            parallelMap((x: string) => x.toUpperCase(), { pool, concurrency, batchSize: 1 }),
            take(2),
          ),
        ).toBe(concurrency === 1 ? '-A(B|)' : '-(AB|)');
      });
      assert.deepEqual(executor.started, ['a', 'b'], `concurrency ${concurrency}`);
    }
  });
});

describe('parallelSettle in virtual time', () => {
  it('emits failures as values and goes on', () => {
    for (const ordered of orders) {
      const { scheduler, pool } = setup({ a: 3, e: 1, c: 1 }, 3);
      scheduler.run(({ cold, expectObservable }) => {
        const source = cold('aec|');
        const out = source.pipe(
          parallelSettle(upper, { pool, ordered }),
          map((s) => (s.ok ? `${s.index}=${s.value}` : `${s.index}!${s.error.cause.message}`)),
        );
        const expected = ordered ? '---(xyz|)' : '--y(xz|)';
        expectObservable(out).toBe(expected, { x: '0=A', y: '1!bad e', z: '2=C' });
      });
    }
  });

  it('the failure value carries a TaskError with index, input and attempts', () => {
    const { scheduler, pool } = setup({});
    scheduler.run(({ cold, expectObservable }) => {
      const out = cold('e|').pipe(
        parallelSettle(upper, { pool }),
        map((s) =>
          !s.ok && s.error instanceof TaskError
            ? `${s.error.index}/${s.error.input}/${s.error.attempts}`
            : 'wrong',
        ),
      );
      expectObservable(out).toBe('-(x|)', { x: '0/e/1' });
    });
  });
});

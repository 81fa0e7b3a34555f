/**
 * The worker lifecycle (issue 22): the context of every task, state from setup, cooperative
 * cancellation, teardown, broadcast, memory recycling; both runtimes where it applies.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lastValueFrom, of, toArray } from 'rxjs';
import { createPool, type Pool, task } from 'rxpool';
import { parallelMap } from 'rxpool/operators';
import { fixture } from './_helpers.js';

const T = { timeout: 60_000 };
const RUNTIMES = ['thread', 'process'] as const;
const seeContext = task<number, any>(fixture('lifecycle.mjs'), 'seeContext');

async function using<R>(pool: Pool, body: (pool: Pool) => Promise<R>): Promise<R> {
  try {
    return await body(pool);
  } finally {
    await pool.destroy();
  }
}

describe('the context of every task', () => {
  for (const runtime of RUNTIMES) {
    it(
      `${runtime}: a task module gets { state, signal, workerId, attempt, index }`,
      T,
      async () => {
        await using(createPool({ size: 1, runtime }), async (pool) => {
          const seen = await pool.map(seeContext, [10, 11, 12]);
          assert.deepEqual(
            seen.map((s) => [s.input, s.index, s.attempt, s.signal, s.state]),
            [
              [10, 0, 1, true, undefined],
              [11, 1, 1, true, undefined],
              [12, 2, 1, true, undefined],
            ],
          );
          // workerId: the thread's threadId, or the child process's pid.
          const own = await pool.run(
            async () => (await import('node:worker_threads')).threadId || process.pid,
            null,
          );
          assert.equal(seen[0].workerId, own);
        });
      },
    );

    it(`${runtime}: an inline function gets it too, through parallelMap`, T, async () => {
      await using(createPool({ size: 2, runtime }), async (pool) => {
        const seen = await lastValueFrom(
          of('a', 'b', 'c', 'd').pipe(
            parallelMap(
              (s: string, context: { index: number; attempt: number; workerId: number }) =>
                `${s}${context.index}:${context.attempt}:${typeof context.workerId}`,
              { pool },
            ),
            toArray(),
          ),
        );
        assert.deepEqual(seen, ['a0:1:number', 'b1:1:number', 'c2:1:number', 'd3:1:number']);
      });
    });

    it(`${runtime}: attempt counts the retries of an item`, T, async () => {
      await using(createPool({ size: 1, runtime }), async (pool) => {
        const thirdTime = task<number, any>(fixture('lifecycle.mjs'), 'thirdTime');
        assert.deepEqual(await pool.map(thirdTime, [7, 8], { retry: 2 }), [
          { input: 7, attempt: 3, index: 0 },
          { input: 8, attempt: 3, index: 1 },
        ]);
      });
    });

    it(`${runtime}: pool.starmap passes the context after the spread arguments`, T, async () => {
      await using(createPool({ size: 1, runtime }), async (pool) => {
        const star = task<[number, number], unknown>(fixture('lifecycle.mjs'), 'starContext');
        assert.deepEqual(
          await pool.starmap(star, [
            [1, 2],
            [3, 4],
          ]),
          [
            [3, 0, 1],
            [7, 1, 1],
          ],
        );
        assert.deepEqual(
          await pool.starmap(
            (a: number, b: number, context: { index: number }) => a * b + context.index * 100,
            [
              [2, 3],
              [4, 5],
            ],
          ),
          [6, 120],
        );
      });
    });

    it(`${runtime}: a task that takes one argument works as before`, T, async () => {
      await using(createPool({ size: 2, runtime }), async (pool) => {
        assert.deepEqual(await pool.map((n: number) => n * n, [1, 2, 3]), [1, 4, 9]);
        const join = task<string[], string>(fixture('star.mjs'), 'join');
        // A rest parameter gets the context last: starmap's spread of a variadic function.
        const joined = await pool.starmap(join, [['a', 'b']]);
        assert.match(joined[0]!, /^a-b-/);
      });
    });
  }
});

describe('state from setup', () => {
  for (const runtime of RUNTIMES) {
    it(
      `${runtime}: what setup resolves to is the worker's state, mutable, seen by the next task`,
      T,
      async () => {
        const setup = task(fixture('lifecycle.mjs'), 'setup');
        await using(createPool({ size: 1, runtime, setup }), async (pool) => {
          const first = await pool.map(seeContext, [1, 2, 3]);
          assert.deepEqual(
            first.map((s) => s.state),
            [
              { runs: 1, greeting: 'hello' },
              { runs: 2, greeting: 'hello' },
              { runs: 3, greeting: 'hello' },
            ],
          );
          // A later call on the same worker sees what the earlier ones did.
          const later = await pool.run(seeContext, 4);
          assert.deepEqual(later.state, { runs: 4, greeting: 'hello' });
        });
      },
    );

    it(
      `${runtime}: a setup that returns a plain value; a task may replace the state`,
      T,
      async () => {
        const setup = task(fixture('lifecycle.mjs'), 'setupValue');
        await using(createPool({ size: 1, runtime, setup }), async (pool) => {
          assert.equal(await pool.run((_: null, { state }: { state: number }) => state, null), 42);
          await pool.run((n: number, context: { state: number }) => {
            context.state = n;
          }, 7);
          assert.equal(await pool.run((_: null, { state }: { state: number }) => state, null), 7);
        });
      },
    );

    it(`${runtime}: each worker has its own state`, T, async () => {
      await using(
        createPool({ size: 2, runtime, setup: () => ({ mine: Math.random() }) }),
        async (pool) => {
          const seen = await pool.map(
            (_: number, { state, workerId }: { state: { mine: number }; workerId: number }) => [
              workerId,
              state.mine,
            ],
            Array.from({ length: 400 }, (_, i) => i),
            { batchSize: 1 },
          );
          const byWorker = new Map<number, Set<number>>();
          for (const [id, mine] of seen as [number, number][]) {
            byWorker.set(id, (byWorker.get(id) ?? new Set()).add(mine));
          }
          for (const states of byWorker.values()) assert.equal(states.size, 1);
          const all = new Set([...byWorker.values()].map((s) => [...s][0]));
          assert.equal(all.size, byWorker.size, 'no two workers share a state');
        },
      );
    });
  }
});

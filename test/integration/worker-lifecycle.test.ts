/**
 * The worker lifecycle (issue 22): the context of every task, state from setup, cooperative
 * cancellation, teardown, broadcast, memory recycling; both runtimes where it applies.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { lastValueFrom, of, toArray } from 'rxjs';
import {
  createPool,
  type Executor,
  type Pool,
  type TaskContext,
  TaskError,
  TaskTimeoutError,
  task,
} from 'rxpool';
import { parallelMap } from 'rxpool/operators';
import {
  barrier,
  fixture,
  hold,
  rejection,
  release,
  STARTED,
  shared,
  waitForCell,
} from './_helpers.js';

const T = { timeout: 60_000 };
const RUNTIMES = ['thread', 'process'] as const;
const seeContext = task<number, any>(fixture('lifecycle.mjs'), 'seeContext');

async function using<P extends Pool<any>, R>(pool: P, body: (pool: P) => Promise<R>): Promise<R> {
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
            (a: number, b: number, context: TaskContext) => a * b + context.index * 100,
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
        // A rest parameter gets the context last (the fixture leaves it out).
        assert.deepEqual(await pool.starmap(join, [['a', 'b']]), ['a-b']);
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

/** A file that every worker start appends a byte to (the pool's setup), and the pool's options. */
function countingStarts(): {
  starts: () => number;
  options: { env: Record<string, string>; setup: () => Promise<void> };
  remove: () => void;
} {
  const dir = mkdtempSync(join(tmpdir(), 'rxpool-starts-'));
  const file = join(dir, 'starts');
  writeFileSync(file, '');
  return {
    starts: () => readFileSync(file).length,
    options: {
      env: { ...(process.env as Record<string, string>), RXPOOL_STARTS: file },
      setup: async () => {
        const fs = await import('node:fs');
        fs.appendFileSync(process.env.RXPOOL_STARTS!, 'x');
      },
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

describe('cooperative cancellation (signal, abortGrace)', () => {
  for (const runtime of RUNTIMES) {
    it(
      `${runtime}: 1,000 items each stopped by a 10 ms timeout, cooperative tasks: all TaskTimeoutError, no new worker`,
      T,
      async () => {
        const counting = countingStarts();
        const untilAborted = task<number, never>(fixture('lifecycle.mjs'), 'untilAborted');
        await using(
          // A generous grace: on a loaded machine a worker may wait long for the CPU.
          createPool({ size: 2, runtime, abortGrace: 30_000, ...counting.options }),
          async (pool) => {
            // Both workers run (and so start): two items that wait for each other (threads), or
            // that take a while each (a child process shares no memory).
            if (runtime === 'thread') {
              const meet = { shared: shared().shared, parties: 2 };
              assert.deepEqual(await pool.map(barrier, [meet, meet], { batchSize: 1 }), [
                true,
                true,
              ]);
            } else {
              const slow = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
              await pool.map(slow, [500, 500], { batchSize: 1 });
            }
            const started = counting.starts();
            assert.equal(started, 2);
            const failures: string[] = [];
            for await (const settled of pool.imapSettled(
              untilAborted,
              Array.from({ length: 1000 }, (_, i) => i),
              { timeout: 10, ordered: false },
            )) {
              assert.ok(!settled.ok);
              failures.push(settled.error.name);
              assert.ok(settled.error instanceof TaskTimeoutError);
              // What the task rejected with: its signal's reason.
              assert.equal(settled.error.cause?.name, 'TimeoutError');
            }
            assert.equal(failures.length, 1000);
            assert.equal(counting.starts(), started, 'no worker was started again');
            assert.equal(await pool.run((n: number) => n * 2, 21), 42);
          },
        ).finally(counting.remove);
      },
    );

    it(
      `${runtime}: a timed-out task that settles with a value in the grace still fails as timed out`,
      T,
      async () => {
        const resolvesOnAbort = task<number, string>(fixture('lifecycle.mjs'), 'resolvesOnAbort');
        await using(createPool({ size: 1, runtime, abortGrace: 30_000 }), async (pool) => {
          const error = await rejection(pool.run(resolvesOnAbort, 1, { timeout: 20 }));
          assert.ok(error instanceof TaskTimeoutError);
          assert.equal(await pool.run((n: number) => n + 1, 1), 2);
        });
      },
    );

    it(
      `${runtime}: a task that ignores its signal is stopped with its worker after abortGrace`,
      T,
      async () => {
        const counting = countingStarts();
        const ignoresAbort = task<number, never>(fixture('lifecycle.mjs'), 'ignoresAbort');
        await using(
          createPool({ size: 1, runtime, abortGrace: 50, ...counting.options }),
          async (pool) => {
            await pool.run((n: number) => n, 1);
            assert.equal(counting.starts(), 1);
            const error = await rejection(pool.run(ignoresAbort, 1, { timeout: 20 }));
            assert.ok(error instanceof TaskTimeoutError);
            assert.equal(await pool.run((n: number) => n + 1, 1), 2);
            assert.equal(counting.starts(), 2, 'its worker was replaced');
          },
        ).finally(counting.remove);
      },
    );

    it(
      `${runtime}: an abort by signal reaches the task's signal, which settles and keeps its worker`,
      T,
      async () => {
        const counting = countingStarts();
        const untilAborted = task<number, never>(fixture('lifecycle.mjs'), 'untilAborted');
        await using(
          createPool({ size: 1, runtime, abortGrace: 30_000, ...counting.options }),
          async (pool) => {
            await pool.run((n: number) => n, 1);
            const controller = new AbortController();
            // The task is running once the worker's answer to it is awaited: abort after a while.
            const running = pool.run(untilAborted, 1, { signal: controller.signal });
            setTimeout(() => controller.abort(new Error('enough')), 100);
            await assert.rejects(running, (error: Error) => error.name === 'AbortError');
            assert.equal(await pool.run((n: number) => n + 1, 1), 2);
            assert.equal(counting.starts(), 1, 'the worker stayed');
          },
        ).finally(counting.remove);
      },
    );
  }

  it('thread: unsubscribing aborts the running task, which sees why', T, async () => {
    const { shared: buffer, cells } = shared();
    await using(createPool({ size: 1 }), async (pool) => {
      const subscription = of(buffer)
        .pipe(
          parallelMap(
            (cellsBuffer: SharedArrayBuffer, { signal }: TaskContext) =>
              new Promise<void>((resolve) => {
                const view = new Int32Array(cellsBuffer);
                Atomics.store(view, 0, 1);
                Atomics.notify(view, 0);
                signal.addEventListener('abort', () => {
                  Atomics.store(view, 2, (signal.reason as Error).name === 'AbortError' ? 2 : 3);
                  Atomics.notify(view, 2);
                  resolve();
                });
              }),
            { pool },
          ),
        )
        .subscribe();
      await waitForCell(cells, 0, 1);
      subscription.unsubscribe();
      await waitForCell(cells, 2, 2);
      assert.equal(Atomics.load(cells, 2), 2, "the signal's reason is an AbortError");
    });
  });
});

describe('pool.broadcast', () => {
  for (const runtime of RUNTIMES) {
    it(
      `${runtime}: starts workers up to size, runs once on each, results in workerId order`,
      T,
      async () => {
        await using(
          createPool({ size: 3, runtime, setup: () => ({ threshold: 0.5 }) }),
          async (pool) => {
            const ids = await pool.broadcast((_: undefined, { workerId }: TaskContext) => workerId);
            assert.equal(ids.length, 3);
            assert.equal(new Set(ids).size, 3, 'three workers, each once');
            assert.deepEqual(
              ids,
              [...ids].sort((a, b) => a - b),
            );
            // A change to the state holds for later items on every worker.
            const before = await pool.broadcast(
              (value: number, { state }: TaskContext<{ threshold: number }>) => {
                const old = state.threshold;
                state.threshold = value;
                return old;
              },
              0.9,
            );
            assert.deepEqual(before, [0.5, 0.5, 0.5]);
            const seen = await pool.map(
              (_: number, { state }: TaskContext<{ threshold: number }>) => state.threshold,
              Array.from({ length: 60 }, (_, i) => i),
              { batchSize: 1 },
            );
            assert.ok(seen.every((t) => t === 0.9));
            assert.deepEqual(
              await pool.broadcast((_: undefined, { workerId }: TaskContext) => workerId),
              ids,
              'the same workers',
            );
          },
        );
      },
    );

    it(`${runtime}: a failure in a worker rejects with a TaskError`, T, async () => {
      await using(createPool({ size: 2, runtime }), async (pool) => {
        await assert.rejects(
          pool.broadcast((name: string) => {
            throw new RangeError(`no ${name}`);
          }, 'model'),
          (error: Error) =>
            error instanceof TaskError &&
            error.cause.name === 'RangeError' &&
            error.cause.message === 'no model',
        );
        assert.deepEqual(await pool.broadcast(() => 1), [1, 1]);
      });
    });
  }

  it('thread: a worker busy with an item finishes it first', T, async () => {
    const { shared: buffer, cells } = shared();
    await using(createPool({ size: 1 }), async (pool) => {
      const held = pool.run(hold, { shared: buffer, value: 'item' });
      await waitForCell(cells, STARTED, 1);
      const order: string[] = [];
      const item = held.then((value) => order.push(value));
      const told = pool.broadcast(() => 'broadcast').then(([value]) => order.push(value!));
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(order, [], 'the broadcast waits for the item');
      release(cells);
      await Promise.all([item, told]);
      assert.deepEqual(order, ['item', 'broadcast']);
    });
  });

  it('process: a worker busy with an item finishes it first', T, async () => {
    await using(createPool({ size: 1, runtime: 'process' }), async (pool) => {
      const item = pool.run(async (ms: number) => {
        await new Promise((resolve) => setTimeout(resolve, ms));
        return Date.now();
      }, 500);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const [told] = await pool.broadcast(() => Date.now());
      assert.ok(told! >= (await item));
    });
  });

  it('rejects on a custom executor, and on a closed pool', T, async () => {
    const { MainThreadExecutor } = (await import(fixture('main-thread-executor.mjs').href)) as {
      MainThreadExecutor: new () => Executor;
    };
    const custom = createPool({ executor: new MainThreadExecutor() });
    await assert.rejects(
      custom.broadcast(() => 1),
      /^TypeError: pool\.broadcast runs work on each/,
    );
    await custom.close();
    const closed = createPool({ size: 1 });
    await closed.close();
    await assert.rejects(
      closed.broadcast(() => 1),
      /The pool is closed/,
    );
  });
});

/** A file that the `logTeardown` fixture appends to, and the pool's options for it. */
function teardownLog() {
  const dir = mkdtempSync(join(tmpdir(), 'rxpool-teardown-'));
  const file = join(dir, 'log');
  writeFileSync(file, '');
  return {
    lines: (): { workerId: number; state: { opened: number } }[] =>
      readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line)),
    options: {
      env: { ...(process.env as Record<string, string>), RXPOOL_LOG: file },
      setup: task(fixture('lifecycle.mjs'), 'namedState'),
      teardown: task(fixture('lifecycle.mjs'), 'logTeardown'),
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Resolves once `check` holds, looking every 20 ms; fails after `ms`. */
async function eventually(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * The teardown warnings emitted while `body` runs. Those are taken from node's own listener
 * (which prints them): they are what the test expects, not news for the test run's output. Any
 * other warning still goes to it.
 */
async function warnings(body: () => Promise<void>): Promise<Error[]> {
  const seen: Error[] = [];
  const others = process.listeners('warning');
  const listen = (warning: Error) => {
    if (warning.name === 'RxpoolTeardownWarning') seen.push(warning);
    else for (const other of others) other(warning);
  };
  for (const other of others) process.off('warning', other);
  process.on('warning', listen);
  try {
    await body();
    // Warnings are emitted on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', listen);
    for (const other of others) process.on('warning', other);
  }
  return seen;
}

describe('teardown', () => {
  for (const runtime of RUNTIMES) {
    it(`${runtime}: close() runs it in each worker, with that worker's state`, T, async () => {
      const log = teardownLog();
      try {
        const pool = createPool({ size: 2, runtime, ...log.options });
        const ids = await pool.broadcast((_: undefined, { workerId }: TaskContext) => workerId);
        await pool.close();
        const lines = log.lines();
        assert.deepEqual(
          lines.map((l) => l.workerId).sort((a, b) => a - b),
          ids,
        );
        for (const line of lines) assert.equal(line.state.opened, line.workerId);
      } finally {
        log.remove();
      }
    });

    it(`${runtime}: maxTasksPerWorker runs it before a worker is replaced`, T, async () => {
      const log = teardownLog();
      try {
        await using(
          createPool({ size: 1, runtime, maxTasksPerWorker: 2, ...log.options }),
          async (pool) => {
            const seen = await pool.map(
              (n: number, { workerId }: TaskContext) => [n, workerId],
              [1, 2, 3, 4, 5],
              { batchSize: 1 },
            );
            const workers = [...new Set(seen.map(([, id]) => id))];
            assert.equal(workers.length, 3);
            await eventually(() => log.lines().length >= 2, 10_000, 'two teardowns');
            assert.deepEqual(
              log.lines().map((l) => l.workerId),
              workers.slice(0, 2),
            );
          },
        );
      } finally {
        log.remove();
      }
    });

    it(`${runtime}: idleTimeout runs it before an idle worker stops`, T, async () => {
      const log = teardownLog();
      try {
        await using(
          createPool({ size: 1, runtime, idleTimeout: 100, ...log.options }),
          async (pool) => {
            const id = await pool.run((_: null, { workerId }: TaskContext) => workerId, null);
            await eventually(() => log.lines().length === 1, 10_000, 'the idle teardown');
            assert.equal(log.lines()[0]!.workerId, id);
          },
        );
      } finally {
        log.remove();
      }
    });

    it(`${runtime}: one that throws or hangs is reported, and close() still ends`, T, async () => {
      for (const name of ['throwingTeardown', 'hangingTeardown']) {
        const pool = createPool({
          size: 1,
          runtime,
          teardown: task(fixture('lifecycle.mjs'), name),
        });
        await pool.run((n: number) => n, 1);
        const started = Date.now();
        const seen = await warnings(() => pool.close());
        assert.ok(Date.now() - started < 10_000, 'close() was not held up');
        assert.equal(seen.length, 1, name);
        assert.match(
          seen[0]!.message,
          name === 'throwingTeardown' ? /cannot close the connection/ : /within 900 ms/,
        );
      }
    });
  }
});

describe('recycleMemoryMb', () => {
  for (const runtime of RUNTIMES) {
    it(
      `${runtime}: a worker whose heap grew past it is replaced between items; nothing fails; its teardown runs`,
      T,
      async () => {
        const log = teardownLog();
        try {
          await using(
            createPool({ size: 1, runtime, recycleMemoryMb: 64, ...log.options }),
            async (pool) => {
              const grow = task<number, number>(fixture('lifecycle.mjs'), 'grow');
              const before = await pool.run((_: null, { workerId }: TaskContext) => workerId, null);
              // 40 MB kept in the state each: past 64 MB after the second.
              assert.deepEqual(await pool.map(grow, [40, 40, 40], { batchSize: 1 }), [40, 40, 40]);
              const after = await pool.run((_: null, { workerId }: TaskContext) => workerId, null);
              assert.notEqual(after, before, 'the worker was replaced');
              await eventually(() => log.lines().length >= 1, 10_000, 'its teardown');
              assert.equal(log.lines()[0]!.workerId, before);
              assert.equal(pool.stats().failed, 0);
            },
          );
        } finally {
          log.remove();
        }
      },
    );
  }

  it('without it, the same worker keeps its state', T, async () => {
    await using(createPool({ size: 1, setup: () => ({}) }), async (pool) => {
      const grow = task<number, number>(fixture('lifecycle.mjs'), 'grow');
      const id = () => pool.run((_: null, { workerId }: TaskContext) => workerId, null);
      const before = await id();
      await pool.map(grow, [40, 40, 40], { batchSize: 1 });
      assert.equal(await id(), before);
    });
  });
});

describe('types', () => {
  it('context.state is typed from setup (checked by npm run typecheck)', T, async () => {
    await using(
      createPool({ size: 1, setup: () => ({ table: new Map([['a', 1]]), hits: 0 }) }),
      async (pool) => {
        const found = await pool.map(
          (key: string, { state }) => {
            state.hits++;
            // @ts-expect-error: the state has no `tabel`
            void state.tabel;
            return state.table.get(key) ?? 0;
          },
          ['a', 'b'],
        );
        const typed: number[] = found;
        assert.deepEqual(typed, [1, 0]);
        const other = task<number, number, { other: true }>(fixture('lifecycle.mjs'), 'seeContext');
        // @ts-expect-error: a task of another state does not fit this pool
        assert.ok(typeof (() => pool.run(other, 1)) === 'function');
        const matching = task<number, unknown, { table: Map<string, number>; hits: number }>(
          fixture('lifecycle.mjs'),
          'seeContext',
        );
        assert.equal(((await pool.run(matching, 1)) as { state: { hits: number } }).state.hits, 2);
      },
    );
  });
});

/**
 * The engine on the fake executor in virtual time: property tests for order and the window, and
 * unit tests for retry, backoff, timeouts in batches, crashes in batches and the pull face.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BatchSizer } from '../../src/engine/batching.js';
import { Engine, type EngineConfig } from '../../src/engine/engine.js';
import type { Progress } from '../../src/engine/progress.js';
import { noRetry, type RetryConfig, retryPolicy } from '../../src/engine/retry.js';
import { type TaskError, TaskTimeoutError, WorkerCrashedError } from '../../src/errors.js';
import { TARGET_BATCH_MS } from '../../src/executor/targets.js';
import { toWorkSpec } from '../../src/pool/task.js';
import { dispatcherOf, FakeExecutor } from '../support/fake-executor.js';
import { VirtualClock } from '../support/virtual-clock.js';

interface Run {
  values: { value: unknown; index: number; at: number }[];
  failures: TaskError<unknown>[];
  completedAt: number | undefined;
  /** What the `error` hook got, and when. */
  error: { error: unknown; at: number } | undefined;
  maxInFlight: number;
  executor: FakeExecutor;
  clock: VirtualClock;
}

function runEngine(
  inputs: unknown[],
  work: (x: any) => unknown,
  options: Partial<Omit<EngineConfig<unknown>, 'work' | 'retry'>> & {
    retry?: number | RetryConfig;
    size?: number;
    duration?: (x: any) => number;
    knowsPosition?: boolean;
    /** The source fails with this after the inputs (`Engine.fail`), instead of ending. */
    sourceError?: Error;
  } = {},
): Run {
  const clock = new VirtualClock();
  const executor = new FakeExecutor({
    clock,
    size: options.size ?? 2,
    duration: options.duration ?? (() => 1),
    knowsPosition: options.knowsPosition ?? true,
  });
  const run: Run = {
    values: [],
    failures: [],
    completedAt: undefined,
    error: undefined,
    maxInFlight: 0,
    executor,
    clock,
  };
  const config: EngineConfig<unknown> = {
    work: toWorkSpec(work),
    concurrency: options.concurrency ?? 4,
    ordered: options.ordered ?? true,
    batchSize: options.batchSize ?? 'auto',
    timeout: options.timeout,
    retry: options.retry === undefined ? noRetry : retryPolicy(options.retry),
    transfer: undefined,
    progress: options.progress,
    total: options.total,
  };
  const engine: Engine<unknown, unknown> = new Engine(config, dispatcherOf(executor), clock, {
    value: (value, index) => {
      run.values.push({ value, index, at: clock.now() });
    },
    failure: (error) => {
      run.failures.push(error);
    },
    complete: () => {
      run.completedAt = clock.now();
    },
    error: (error) => {
      if (!options.sourceError) throw error;
      run.error = { error, at: clock.now() };
    },
  });
  const watch = () => {
    run.maxInFlight = Math.max(run.maxInFlight, engine.inFlight);
    if (run.completedAt === undefined && engine.inFlight > 0) clock.setTimeout(watch, 0.5);
  };
  for (const input of inputs) engine.push(input);
  if (options.sourceError) engine.fail(options.sourceError);
  else engine.end();
  watch();
  clock.run();
  return run;
}

describe('engine invariants (fast-check)', () => {
  const settings = fc.record({
    durations: fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 60 }),
    concurrency: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.constant(Infinity)),
    size: fc.integer({ min: 1, max: 4 }),
    batchSize: fc.oneof(fc.constant('auto' as const), fc.integer({ min: 1, max: 5 })),
  });

  it('ordered output equals input.map(f), and the window bound holds', () => {
    fc.assert(
      fc.property(settings, ({ durations, concurrency, size, batchSize }) => {
        const inputs = durations.map((d, i) => ({ i, d }));
        const run = runEngine(inputs, (x: { i: number }) => x.i * 3, {
          concurrency,
          size,
          batchSize,
          duration: (x: { d: number }) => x.d,
        });
        assert.deepEqual(
          run.values.map((v) => v.value),
          inputs.map((x) => x.i * 3),
        );
        assert.deepEqual(
          run.values.map((v) => v.index),
          inputs.map((x) => x.i),
        );
        assert.ok(run.maxInFlight <= concurrency);
        assert.ok(run.executor.maxBusy <= size);
        assert.notEqual(run.completedAt, undefined);
      }),
      { numRuns: 150 },
    );
  });

  it('unordered output is a permutation, and the window bound holds', () => {
    fc.assert(
      fc.property(settings, ({ durations, concurrency, size, batchSize }) => {
        const inputs = durations.map((d, i) => ({ i, d }));
        const run = runEngine(inputs, (x: { i: number }) => x.i, {
          concurrency,
          size,
          batchSize,
          ordered: false,
          duration: (x: { d: number }) => x.d,
        });
        const got = run.values.map((v) => v.value as number).sort((a, b) => a - b);
        assert.deepEqual(
          got,
          inputs.map((x) => x.i),
        );
        for (const v of run.values) assert.equal(v.value, v.index);
        assert.ok(run.maxInFlight <= concurrency);
        assert.notEqual(run.completedAt, undefined);
      }),
      { numRuns: 150 },
    );
  });

  it('across many chunks, with failures, crashes and retries: every item once, in its place', () => {
    // Streams longer than a page of inputs (4096), so batches span chunks and failures split them.
    // A crash loses its whole batch, and every crash re-runs its batch-mates: crashes are rarer.
    const KINDS = [...Array(40).fill('ok'), 'failOnce', 'failOnce', 'failAlways', 'crashOnce'];
    const streams = fc.record({
      // fast-check keeps generated arrays short; long streams come from a length and a seed.
      length: fc.integer({ min: 1, max: 9000 }),
      seed: fc.integer({ min: 1, max: 2 ** 30 }),
      ordered: fc.boolean(),
      size: fc.integer({ min: 1, max: 4 }),
      concurrency: fc.constantFrom(16, 5000, Infinity),
      batchSize: fc.oneof(fc.constant('auto' as const), fc.integer({ min: 1, max: 3000 })),
      knowsPosition: fc.boolean(),
    });
    fc.assert(
      fc.property(
        streams,
        ({ length, seed, ordered, size, concurrency, batchSize, knowsPosition }) => {
          let state = seed;
          const kinds = Array.from({ length }, () => {
            state = (state * 48271) % 2147483647;
            return KINDS[state % KINDS.length]!;
          });
          const attempts = new Map<number, number>();
          (globalThis as any).__chunkAttempts = attempts;
          const work = (x: { i: number; kind: string }) => {
            const counts = (globalThis as any).__chunkAttempts as Map<number, number>;
            const n = (counts.get(x.i) ?? 0) + 1;
            counts.set(x.i, n);
            if (x.kind === 'failAlways' || (x.kind === 'failOnce' && n === 1)) {
              throw new Error(`item ${x.i} failed`);
            }
            if (x.kind === 'crashOnce' && n === 1) {
              const crash = new Error(`item ${x.i} crashed its worker`);
              crash.name = 'FakeCrash';
              throw crash;
            }
            return x.i * 2;
          };
          const inputs = kinds.map((k, i) => ({ i, kind: k }));
          const run = runEngine(inputs, work, {
            ordered,
            size,
            concurrency,
            batchSize,
            knowsPosition,
            retry: 1,
            duration: (x: { i: number }) => x.i % 2,
          });
          const failed = inputs.filter((x) => x.kind === 'failAlways').map((x) => x.i);
          const succeeded = inputs.filter((x) => x.kind !== 'failAlways').map((x) => x.i);
          assert.deepEqual(
            run.failures.map((f) => f.index).sort((a, b) => a - b),
            failed,
          );
          for (const f of run.failures) assert.equal(f.attempts, 2);
          for (const v of run.values) assert.equal(v.value, v.index * 2);
          const indexes = run.values.map((v) => v.index);
          if (ordered) assert.deepEqual(indexes, succeeded);
          else
            assert.deepEqual(
              [...indexes].sort((a, b) => a - b),
              succeeded,
            );
          assert.notEqual(run.completedAt, undefined);
          assert.ok(run.maxInFlight <= concurrency);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('ordered mode with a slow head holds at most `concurrency` items, finished ones included', () => {
    const inputs = Array.from({ length: 50 }, (_, i) => i);
    const run = runEngine(inputs, (x: number) => x, {
      concurrency: 5,
      size: 4,
      duration: (x: number) => (x === 0 ? 1000 : 1),
    });
    assert.equal(run.maxInFlight, 5);
    // Before the head finished, only the head and four more had started.
    assert.deepEqual(run.executor.started.slice(0, 5).sort(), [0, 1, 2, 3, 4]);
    assert.equal(run.values[0]!.at, 1000);
  });
});

describe('engine retry', () => {
  const flaky = (x: { id: string; failFirst: number }) => {
    (globalThis as any).__attempts ??= new Map<string, number>();
    const counts = (globalThis as any).__attempts as Map<string, number>;
    const n = (counts.get(x.id) ?? 0) + 1;
    counts.set(x.id, n);
    if (n <= x.failFirst) {
      const error = new Error(`attempt ${n} failed`);
      (error as any).code = n === 1 ? 'EAGAIN' : 'EFATAL';
      throw error;
    }
    return `${x.id} ok after ${n}`;
  };
  const fresh = () => {
    (globalThis as any).__attempts = new Map();
  };

  it('tries again up to `count` times; `attempts` tells how many ran', () => {
    fresh();
    const run = runEngine(
      [
        { id: 'a', failFirst: 2 },
        { id: 'b', failFirst: 5 },
      ],
      flaky,
      { retry: 2 },
    );
    assert.deepEqual(
      run.values.map((v) => v.value),
      ['a ok after 3'],
    );
    assert.equal(run.failures.length, 1);
    assert.equal(run.failures[0]!.index, 1);
    assert.equal(run.failures[0]!.attempts, 3);
    assert.equal(run.failures[0]!.cause.message, 'attempt 3 failed');
  });

  it('waits `delay` between attempts, doubling with exponential backoff up to maxDelay', () => {
    fresh();
    const run = runEngine([{ id: 'x', failFirst: 4 }], flaky, {
      retry: { count: 4, delay: 100, backoff: 'exponential', maxDelay: 300 },
      duration: () => 0,
    });
    // Attempts end at 0, then after waits of 100, 200, 300 (capped), 300 (capped).
    assert.equal(run.values[0]!.value, 'x ok after 5');
    assert.equal(run.values[0]!.at, 100 + 200 + 300 + 300);
  });

  it('fixed backoff waits the same each time', () => {
    fresh();
    const run = runEngine([{ id: 'y', failFirst: 3 }], flaky, {
      retry: { count: 3, delay: 50 },
      duration: () => 0,
    });
    assert.equal(run.values[0]!.at, 150);
  });

  it('retryIf decides per failure', () => {
    fresh();
    const seen: number[] = [];
    const run = runEngine([{ id: 'z', failFirst: 5 }], flaky, {
      retry: {
        count: 5,
        retryIf: (error, attempt) => {
          seen.push(attempt);
          return (error.cause as { code?: string }).code === 'EAGAIN';
        },
      },
    });
    assert.deepEqual(seen, [1, 2]);
    assert.equal(run.failures[0]!.attempts, 2);
    assert.equal((run.failures[0]!.cause as { code?: string }).code, 'EFATAL');
  });

  it('ordered: earlier results come first, then the failure', () => {
    fresh();
    const run = runEngine(
      [
        { id: 'p', failFirst: 0 },
        { id: 'q', failFirst: 9 },
        { id: 'r', failFirst: 0 },
      ],
      flaky,
      { retry: 1, duration: () => 1 },
    );
    assert.deepEqual(
      run.values.map((v) => v.index),
      [0, 2],
    );
    assert.equal(run.failures[0]!.index, 1);
    // r's result waited for q's final failure: emitted no earlier than it.
    assert.ok(run.values[1]!.at >= 2);
  });
});

describe('engine timeouts and crashes in batches', () => {
  it('an item past the timeout fails alone; its batch-mates are re-run or finish', () => {
    const inputs = [1, 2, 3, 4, 5, 6];
    const run = runEngine(inputs, (x: number) => x * 10, {
      size: 1,
      concurrency: Infinity,
      batchSize: 6,
      timeout: 50,
      duration: (x: number) => (x === 4 ? 1000 : 10),
    });
    assert.deepEqual(
      run.values.map((v) => v.value),
      [10, 20, 30, 50, 60],
    );
    assert.equal(run.failures.length, 1);
    assert.ok(run.failures[0] instanceof TaskTimeoutError);
    assert.equal(run.failures[0]!.index, 3);
    assert.deepEqual(run.executor.stopped, [4]);
    // Timed from the item's own start (30), not the batch's (0); the items that had finished
    // with it are re-run (their results were in the stopped worker), the rest run once.
    // (The first item went out alone: workers were idle.)
    assert.deepEqual(run.executor.batches, [[1], [2, 3, 4, 5, 6], [2, 3, 5, 6]]);
  });

  it('a crash under an item fails it with WorkerCrashedError and re-runs the others', () => {
    const run = runEngine(
      ['a', 'b', 'c', 'd'],
      (x: string) => {
        if (x === 'c') {
          const error = new Error('died');
          error.name = 'FakeCrash';
          throw error;
        }
        return x.toUpperCase();
      },
      { size: 1, concurrency: Infinity, batchSize: 4 },
    );
    assert.deepEqual(
      run.values.map((v) => v.value),
      ['A', 'B', 'D'],
    );
    assert.ok(run.failures[0] instanceof WorkerCrashedError);
    assert.equal(run.failures[0]!.index, 2);
  });

  it('when the executor cannot tell which item runs, a crashed batch goes back in halves until the culprit is alone', () => {
    const inputs = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
    const run = runEngine(
      inputs,
      (x: string) => {
        if (x === 'h') {
          const error = new Error('died');
          error.name = 'FakeCrash';
          throw error;
        }
        return x;
      },
      { size: 1, concurrency: Infinity, batchSize: 8, knowsPosition: false },
    );
    assert.deepEqual(
      run.values.map((v) => v.value),
      inputs.filter((x) => x !== 'h'),
    );
    assert.equal(run.failures.length, 1);
    assert.ok(run.failures[0] instanceof WorkerCrashedError);
    assert.equal(run.failures[0]!.index, 7);
    // Only the culprit was charged: one attempt.
    assert.equal(run.failures[0]!.attempts, 1);
    // Halves of the batch that crashed, not its items one by one (which a remote batch of tens of
    // thousands of items could not afford); the half without the culprit runs once.
    assert.deepEqual(run.executor.batches, [
      ['a'],
      ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'],
      ['b', 'c', 'd', 'e'],
      ['f', 'g', 'h', 'i'],
      ['f', 'g'],
      ['h', 'i'],
      ['h'],
      ['i'],
    ]);
  });
});

describe('engine progress', () => {
  it('reports counts, rate and ETA at most every 100 ms, and once more at the end', () => {
    const reports: Progress[] = [];
    const inputs = Array.from({ length: 40 }, (_, i) => i);
    runEngine(
      inputs,
      (x: number) => {
        if (x % 10 === 9) throw new Error('bad');
        return x;
      },
      {
        size: 1,
        concurrency: 4,
        batchSize: 1,
        duration: () => 10,
        progress: (p) => reports.push(p),
        total: 40,
      },
    );
    const last = reports.at(-1)!;
    assert.deepEqual(
      { done: last.done, failed: last.failed, inFlight: last.inFlight, final: last.final },
      { done: 40, failed: 4, inFlight: 0, final: true },
    );
    assert.equal(last.elapsedMs, 400);
    assert.equal(last.rate, 100);
    assert.equal(last.etaMs, 0);
    const interim = reports.slice(0, -1);
    assert.ok(interim.length >= 3 && interim.length <= 4, `${interim.length} interim reports`);
    for (const p of interim) assert.equal(p.final, false);
    for (let i = 1; i < interim.length; i++) {
      assert.ok(interim[i]!.elapsedMs - interim[i - 1]!.elapsedMs >= 100);
    }
    const first = interim[0]!;
    // One item done after 10 ms at 100 items/s: 39 left take 390 ms.
    assert.deepEqual([first.done, first.rate, first.etaMs], [1, 100, 390]);
    assert.ok(first.inFlight >= 1 && first.inFlight <= 4);
  });

  it('a progress callback that throws errors the stream with what it threw', () => {
    const errors: unknown[] = [];
    const clock = new VirtualClock();
    const executor = new FakeExecutor({ clock, size: 1, duration: () => 1 });
    const engine = new Engine(
      {
        work: toWorkSpec((x: number) => x),
        concurrency: 2,
        ordered: true,
        batchSize: 1,
        timeout: undefined,
        retry: noRetry,
        transfer: undefined,
        progress: () => {
          throw new Error('bar broke');
        },
      },
      dispatcherOf(executor),
      clock,
      {
        value: () => {},
        failure: () => {},
        complete: () => assert.fail('no completion expected'),
        error: (error) => errors.push(error),
      },
    );
    engine.push(1);
    engine.push(2);
    engine.end();
    clock.run();
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as Error).message, 'bar broke');
  });
});

describe('engine transfer', () => {
  function transferRun(transfer: (input: number) => ArrayBuffer[]) {
    const failures: TaskError<number>[] = [];
    const values: unknown[] = [];
    const clock = new VirtualClock();
    const executor = new FakeExecutor({ clock, size: 1, duration: () => 1 });
    const engine = new Engine<number, unknown>(
      {
        work: toWorkSpec(() => {
          throw new Error('flaky');
        }),
        concurrency: 1,
        ordered: true,
        batchSize: 1,
        timeout: undefined,
        retry: retryPolicy(2),
        transfer,
      },
      dispatcherOf(executor),
      clock,
      {
        value: (value) => values.push(value),
        failure: (error) => failures.push(error),
        complete: () => {},
        error: (error) => assert.fail(error as Error),
      },
    );
    engine.push(1);
    engine.end();
    clock.run();
    return { failures, values };
  }

  it('an item whose buffers were transferred is not retried, and fails with what its attempt threw', () => {
    const run = transferRun(() => [new ArrayBuffer(8)]);
    assert.equal(run.failures.length, 1);
    const [failure] = run.failures;
    // One attempt ran; its real error is the cause, and the message says why there was no retry.
    assert.equal(failure!.attempts, 1);
    assert.equal(failure!.cause.name, 'Error');
    assert.equal(failure!.cause.message, 'flaky');
    assert.match(
      failure!.message,
      /^Item 0 failed after 1 attempt: Error: flaky\nNot retried: its `transfer` buffers went to the worker with this attempt/,
    );
  });

  it('a batch-mate of a crash whose buffers moved fails with TransferredError, not sent again', () => {
    const failures: TaskError<number>[] = [];
    const values: unknown[] = [];
    const clock = new VirtualClock();
    // Item 9 holds the one worker, so that items 0, 1 and 2 queue up and go as one batch.
    const executor = new FakeExecutor({ clock, size: 1, duration: (n) => (n === 9 ? 10 : 1) });
    const engine = new Engine<number, unknown>(
      {
        work: toWorkSpec((n: number) => {
          if (n === 0) {
            const crash = new Error('gone');
            crash.name = 'FakeCrash';
            throw crash;
          }
          return n;
        }),
        concurrency: 4,
        ordered: true,
        batchSize: 3,
        timeout: undefined,
        retry: noRetry,
        transfer: (n) => (n === 2 ? [new ArrayBuffer(8)] : []),
      },
      dispatcherOf(executor),
      clock,
      {
        value: (value) => values.push(value),
        failure: (error) => failures.push(error),
        complete: () => {},
        error: (error) => assert.fail(error as Error),
      },
    );
    for (const n of [9, 0, 1, 2]) engine.push(n);
    engine.end();
    clock.run();
    assert.deepEqual(executor.batches, [[9], [0, 1, 2], [1]]);
    // Item 0 crashed its worker; item 1 moved nothing and runs again; item 2's buffers went to
    // the dead worker, so it is not sent again without them.
    assert.ok(failures[0] instanceof WorkerCrashedError);
    assert.deepEqual(values, [9, 1]);
    assert.equal(failures.length, 2);
    assert.equal(failures[1]!.index, 3);
    assert.equal(failures[1]!.cause.name, 'TransferredError');
    assert.match(failures[1]!.cause.message, /moved to a worker by an earlier run of its batch/);
  });

  it('an item that transferred nothing is retried as usual', () => {
    const run = transferRun(() => []);
    assert.equal(run.failures[0]!.attempts, 3);
    assert.equal(run.failures[0]!.cause.message, 'flaky');
  });
});

describe('engine source failure', () => {
  const boom = new Error('source failed');
  const durations = [5, 1, 3, 2, 4, 1];

  for (const ordered of [true, false]) {
    it(`${ordered ? 'ordered' : 'unordered'}: every item pushed before the failure is emitted, then the error`, () => {
      const run = runEngine(durations, (x: number) => x * 10, {
        ordered,
        concurrency: 3,
        duration: (x: number) => x,
        sourceError: boom,
      });
      const values = run.values.map((v) => v.value as number);
      const expected = durations.map((x) => x * 10);
      assert.deepEqual(
        ordered ? values : [...values].sort((a, b) => a - b),
        ordered ? expected : [...expected].sort((a, b) => a - b),
      );
      assert.equal(run.completedAt, undefined);
      assert.equal(run.error?.error, boom);
      assert.ok(run.error!.at >= Math.max(...run.values.map((v) => v.at)));
      assert.equal(run.executor.running, 0);
    });
  }

  it('a source that fails before giving anything errors at once', () => {
    const run = runEngine([], (x: number) => x, { sourceError: boom });
    assert.deepEqual(run.values, []);
    assert.equal(run.error?.error, boom);
    assert.equal(run.error?.at, 0);
  });
});

describe('engine pull face', () => {
  it('asks for input only while the window has room', () => {
    const clock = new VirtualClock();
    const executor = new FakeExecutor({ clock, size: 2, duration: () => 5 });
    let pulled = 0;
    let maxAhead = 0;
    const emitted: number[] = [];
    const engine: Engine<number, number> = new Engine(
      {
        work: toWorkSpec((x: number) => x + 1),
        concurrency: 3,
        ordered: true,
        batchSize: 1,
        timeout: undefined,
        retry: noRetry,
        transfer: undefined,
      },
      dispatcherOf(executor),
      clock,
      {
        value: (value) => emitted.push(value),
        failure: () => assert.fail('no failure expected'),
        complete: () => {},
        error: (error) => assert.fail(error as Error),
        pull: () => {
          if (pulled === 20) {
            engine.end();
            return;
          }
          engine.push(pulled++);
          maxAhead = Math.max(maxAhead, pulled - emitted.length);
        },
      },
    );
    engine.push(pulled++);
    clock.run();
    assert.deepEqual(
      emitted,
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    assert.ok(maxAhead <= 3, `pulled ${maxAhead} ahead of what was emitted`);
  });
});

describe('batch sizing', () => {
  it('sends an item alone until a batch has been measured, then about TARGET_BATCH_MS of items', () => {
    const sizer = new BatchSizer('auto');
    assert.equal(sizer.next(1000, 4), 1);
    sizer.observe(4, 1); // 4 ms an item
    assert.equal(sizer.next(1000, 4), TARGET_BATCH_MS / 4);
  });

  it('never sends more than an even share of the unfinished items among the slots', () => {
    const sizer = new BatchSizer('auto');
    sizer.observe(0.001, 1000);
    assert.equal(sizer.next(100, 4, 300), 100);
    assert.equal(sizer.next(1000, 4), 250);
  });

  it('weighs measurements by items: a first batch of one slow item does not keep batches small', () => {
    const sizer = new BatchSizer('auto');
    sizer.observe(0.012, 1); // mostly the batch's own start
    sizer.observe(0.1, 2000); // 50 ns an item
    // About 150k items make 8 ms: the share of 100k among 4 slots is what limits the batch.
    assert.equal(sizer.next(100_000, 4), 25_000);
  });

  it('follows items that get slower', () => {
    const sizer = new BatchSizer('auto');
    sizer.observe(1, 1000); // 1 µs an item
    for (let i = 0; i < 10; i++) sizer.observe(100, 100); // then 1 ms an item
    assert.ok(sizer.next(1_000_000, 4) <= 2 * TARGET_BATCH_MS);
  });

  it('uses a fixed size as given', () => {
    const sizer = new BatchSizer(16);
    assert.equal(sizer.next(1000, 4), 16);
    assert.equal(sizer.next(5, 4), 5);
  });
});

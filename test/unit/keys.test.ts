/**
 * Per-key order (the `key` option): the key lines alone, the engine with keys on the fake executor
 * in virtual time (fast-check properties: same-key items never overlap, each key runs and emits in
 * source order, output order rules, the window bound, never two of one key in a batch; and unit
 * tests for a key that throws, retries, timeouts and cancellation), and marble tests of the
 * operators with `key`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { map } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { parallelMap, parallelSettle } from '../../operators/index.js';
import { rxClock } from '../../operators/internal.js';
import { Engine, type EngineConfig } from '../../src/engine/engine.js';
import { type Key, KeyLines } from '../../src/engine/keys.js';
import { noRetry, type RetryConfig, retryPolicy } from '../../src/engine/retry.js';
import { TaskError, TaskTimeoutError } from '../../src/errors.js';
import { toWorkSpec } from '../../src/pool/task.js';
import { dispatcherOf, FakeExecutor, fakePool } from '../support/fake-executor.js';
import { VirtualClock } from '../support/virtual-clock.js';

describe('KeyLines', () => {
  const item = (first: number) => ({ first });

  it('gives each key one turn, and passes it in line order', () => {
    const lines = new KeyLines<{ first: number }>((x: { k: Key }) => x.k);
    assert.equal(lines.claim('a', 0), true);
    assert.equal(lines.claim('b', 1), true);
    assert.equal(lines.claim('a', 2), false);
    lines.wait('a', item(2));
    assert.equal(lines.claim('a', 3), false);
    lines.wait('a', item(3));
    assert.equal(lines.holding, 2);
    assert.equal(lines.leave(1), undefined, 'b had no one in line: its turn is free');
    assert.equal(lines.claim('b', 4), true);
    assert.deepEqual(lines.leave(0), item(2));
    assert.equal(lines.claim('a', 5), false, 'item 2 holds the turn now');
    lines.wait('a', item(5));
    assert.deepEqual(lines.leave(2), item(3));
    assert.deepEqual(lines.leave(3), item(5));
    assert.equal(lines.leave(5), undefined);
    assert.equal(lines.claim('a', 6), true);
  });

  it('keys compare as Map keys: 1 and "1" differ', () => {
    const lines = new KeyLines<{ first: number }>((x: Key) => x);
    assert.equal(lines.claim(1, 0), true);
    assert.equal(lines.claim('1', 1), true);
    assert.equal(lines.claim(1, 2), false);
  });

  it('an item that holds no turn leaves nothing', () => {
    const lines = new KeyLines<{ first: number }>((x: Key) => x);
    assert.equal(lines.leave(7), undefined);
  });

  it('key() returns what the function threw, as an Error', () => {
    const lines = new KeyLines<{ first: number }>((x: { k?: Key }) => {
      if (x.k === undefined) throw new Error('no key');
      return x.k;
    });
    assert.equal(lines.key({ k: 'a' }), 'a');
    const error = lines.key({});
    assert.ok(error instanceof Error);
    assert.equal((error as Error).message, 'no key');
  });

  it('clear() forgets every key and turn', () => {
    const lines = new KeyLines<{ first: number }>((x: Key) => x);
    lines.claim('a', 0);
    lines.wait('a', item(1));
    lines.clear();
    assert.equal(lines.holding, 0);
    assert.equal(lines.claim('a', 2), true);
  });
});

interface Item {
  readonly i: number;
  readonly k: string;
  /** ms it takes. */
  readonly d: number;
  readonly kind: string;
}

interface Run {
  /** Values and failures, in emission order. */
  emitted: { index: number; ok: boolean; error?: TaskError<Item> }[];
  completed: boolean;
  maxInFlight: number;
  executor: FakeExecutor;
  engine: Engine<Item, unknown>;
  clock: VirtualClock;
}

/** The work of the runs below: `kind` says how an item fails (attempts counted per index). */
const work = (x: { i: number; kind: string }) => {
  const counts = (globalThis as any).__keyAttempts as Map<number, number>;
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
  return x.i;
};

function start(
  options: {
    ordered?: boolean;
    concurrency?: number;
    size?: number;
    batchSize?: number | 'auto';
    retry?: number | RetryConfig;
    timeout?: number;
    knowsPosition?: boolean;
    /** `null`: no `key` option. @default the item's `k` */
    key?: ((x: Item) => Key) | null;
  } = {},
): Run {
  (globalThis as any).__keyAttempts = new Map<number, number>();
  const clock = new VirtualClock();
  const executor = new FakeExecutor({
    clock,
    size: options.size ?? 3,
    duration: (x: Item) => x.d,
    knowsPosition: options.knowsPosition ?? true,
  });
  const config: EngineConfig<Item> = {
    work: toWorkSpec(work),
    concurrency: options.concurrency ?? 8,
    ordered: options.ordered ?? true,
    batchSize: options.batchSize ?? 'auto',
    timeout: options.timeout,
    retry: options.retry === undefined ? noRetry : retryPolicy(options.retry),
    transfer: undefined,
    key: options.key === null ? undefined : (options.key ?? ((x) => x.k)),
  };
  const run = {
    emitted: [],
    completed: false,
    maxInFlight: 0,
    executor,
    clock,
  } as unknown as Run;
  run.engine = new Engine<Item, unknown>(config, dispatcherOf(executor), clock, {
    value: (_value, index) => run.emitted.push({ index, ok: true }),
    failure: (error) => run.emitted.push({ index: error.index, ok: false, error }),
    complete: () => {
      run.completed = true;
    },
    error: (error) => {
      throw error;
    },
  });
  const watch = () => {
    run.maxInFlight = Math.max(run.maxInFlight, run.engine.inFlight);
    if (!run.completed && run.engine.inFlight > 0) clock.setTimeout(watch, 0.5);
  };
  clock.setTimeout(watch, 0);
  return run;
}

function runAll(inputs: Item[], options: Parameters<typeof start>[0] = {}): Run {
  const run = start(options);
  for (const input of inputs) run.engine.push(input);
  run.engine.end();
  run.clock.run();
  return run;
}

/** Every attempt of an item of a key ends before any attempt of that key's next item starts. */
function assertKeysTakeTurns(run: Run): void {
  const byKey = new Map<string, { i: number; start: number; end: number | undefined }[]>();
  for (const span of run.executor.spans) {
    const x = span.input as Item;
    const list = byKey.get(x.k) ?? [];
    list.push({ i: x.i, start: span.start, end: span.end });
    byKey.set(x.k, list);
  }
  for (const [k, spans] of byKey) {
    for (const a of spans) {
      for (const b of spans) {
        if (a.i >= b.i) continue;
        assert.ok(
          a.end !== undefined && a.end <= b.start,
          `key ${k}: item ${a.i} [${a.start}, ${a.end}] overlaps or follows item ${b.i} [${b.start}, ${b.end}]`,
        );
      }
    }
  }
}

describe('engine with `key` (fast-check)', () => {
  const KINDS = [...Array(12).fill('ok'), 'failOnce', 'failAlways', 'crashOnce'];
  const streams = fc.record({
    items: fc.array(
      fc.record({
        k: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
        d: fc.integer({ min: 1, max: 12 }),
        kind: fc.constantFrom(...KINDS),
      }),
      { maxLength: 60 },
    ),
    ordered: fc.boolean(),
    concurrency: fc.oneof(fc.integer({ min: 1, max: 10 }), fc.constant(Infinity)),
    size: fc.integer({ min: 1, max: 4 }),
    batchSize: fc.oneof(fc.constant('auto' as const), fc.integer({ min: 1, max: 5 })),
    knowsPosition: fc.boolean(),
    retryDelay: fc.constantFrom(0, 3),
  });

  it('same-key items never overlap and run in source order; output order holds; every item once', () => {
    fc.assert(
      fc.property(
        streams,
        ({ items, ordered, concurrency, size, batchSize, knowsPosition, retryDelay }) => {
          const inputs = items.map((x, i) => ({ ...x, i }));
          const run = runAll(inputs, {
            ordered,
            concurrency,
            size,
            batchSize,
            knowsPosition,
            retry: { count: 1, delay: retryDelay },
          });
          assert.ok(run.completed);
          assertKeysTakeTurns(run);
          // Every item once: a value, or a failure for the ones that fail every attempt.
          const indexes = run.emitted.map((e) => e.index);
          assert.deepEqual(
            [...indexes].sort((a, b) => a - b),
            inputs.map((x) => x.i),
          );
          for (const e of run.emitted) {
            assert.equal(e.ok, inputs[e.index]!.kind !== 'failAlways');
          }
          if (ordered) {
            assert.deepEqual(
              indexes,
              inputs.map((x) => x.i),
            );
          } else {
            // Each key's results come in that key's source order.
            for (const k of new Set(inputs.map((x) => x.k))) {
              const ofKey = indexes.filter((i) => inputs[i]!.k === k);
              assert.deepEqual(
                ofKey,
                [...ofKey].sort((a, b) => a - b),
              );
            }
          }
          assert.ok(run.maxInFlight <= concurrency);
          for (const batch of run.executor.batches) {
            const keys = (batch as Item[]).map((x) => x.k);
            assert.equal(
              new Set(keys).size,
              keys.length,
              `two items of one key in a batch: ${keys}`,
            );
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('different keys run in parallel: with one key per item, keys change nothing', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 1, max: 4 }),
        (durations, size) => {
          const inputs = durations.map((d, i) => ({ i, k: `k${i}`, d, kind: 'ok' }));
          const keyed = runAll(inputs, { size, batchSize: 1 });
          const none = runAll(inputs, { size, batchSize: 1, key: null });
          const spans = (run: Run) =>
            run.executor.spans.map((s) => [(s.input as Item).i, s.start, s.end]);
          assert.deepEqual(spans(keyed), spans(none));
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe('engine with `key`', () => {
  const item = (i: number, k: string, d = 2, kind = 'ok'): Item => ({ i, k, d, kind });

  it('a key that throws fails its item alone with a TaskError; the others go on', () => {
    for (const ordered of [true, false]) {
      const inputs = [item(0, 'a'), item(1, 'boom'), item(2, 'a'), item(3, 'b')];
      const run = runAll(inputs, {
        ordered,
        key: (x) => {
          if (x.k === 'boom') throw new RangeError(`no key for item ${x.i}`);
          return x.k;
        },
      });
      assert.ok(run.completed);
      const failed = run.emitted.filter((e) => !e.ok);
      assert.equal(failed.length, 1);
      const error = failed[0]!.error!;
      assert.ok(error instanceof TaskError);
      assert.equal(error.index, 1);
      assert.equal((error.cause as Error).name, 'RangeError');
      assert.equal((error.cause as Error).message, 'no key for item 1');
      assert.deepEqual(
        run.emitted.filter((e) => e.ok).map((e) => e.index),
        ordered ? [0, 2, 3] : [0, 3, 2],
      );
      assert.ok(
        !run.executor.started.some((x) => (x as Item).i === 1),
        'the item without a key never ran',
      );
    }
  });

  it('a retried item keeps its key turn: its successors wait for the retry, other keys do not', () => {
    const inputs = [item(0, 'a', 2, 'failOnce'), item(1, 'a', 2), item(2, 'b', 2)];
    const run = runAll(inputs, { retry: { count: 1, delay: 5 }, batchSize: 1 });
    const spans = run.executor.spans.map((s) => ({ i: (s.input as Item).i, ...s }));
    // Item 0 runs [0, 2], waits 5 ms, runs again [7, 9]; item 1 only then; item 2 at once.
    assert.deepEqual(
      spans.map(({ i, start, end }) => [i, start, end]),
      [
        [0, 0, 2],
        [2, 0, 2],
        [0, 7, 9],
        [1, 9, 11],
      ],
    );
    assert.deepEqual(
      run.emitted.map((e) => [e.index, e.ok]),
      [
        [0, true],
        [1, true],
        [2, true],
      ],
    );
  });

  it('a timed-out item fails with TaskTimeoutError, then its key turn passes on', () => {
    for (const knowsPosition of [true, false]) {
      const inputs = [item(0, 'a', 50), item(1, 'a', 2), item(2, 'b', 2)];
      const run = runAll(inputs, { timeout: 10, knowsPosition, ordered: false });
      assert.deepEqual(
        run.emitted.map((e) => [e.index, e.ok]),
        [
          [2, true],
          [0, false],
          [1, true],
        ],
      );
      assert.ok(run.emitted[1]!.error instanceof TaskTimeoutError);
      assertKeysTakeTurns(run);
    }
  });

  it('a crash retried alone keeps the turn: no item of its key runs in between', () => {
    const inputs = [item(0, 'a', 2, 'crashOnce'), item(1, 'a', 1), item(2, 'b', 1)];
    const run = runAll(inputs, { retry: 1, size: 1, batchSize: 5 });
    assert.deepEqual(
      run.emitted.map((e) => [e.index, e.ok]),
      [
        [0, true],
        [1, true],
        [2, true],
      ],
    );
    assertKeysTakeTurns(run);
    assert.deepEqual(
      run.executor.spans
        .map((s) => s.input as Item)
        .filter((x) => x.k === 'a')
        .map((x) => x.i),
      [0, 0, 1],
    );
    assert.ok(
      run.executor.batches.some((b) => b.length > 1),
      'items of different keys still travel together',
    );
  });

  it('cancel stops the running item; the items waiting for their key never run', () => {
    const run = start({ size: 2 });
    for (const x of [item(0, 'a', 10), item(1, 'a', 1), item(2, 'a', 1), item(3, 'b', 1)]) {
      run.engine.push(x);
    }
    run.clock.setTimeout(() => run.engine.cancel(), 5);
    run.clock.run();
    assert.deepEqual(
      run.executor.started.map((x) => (x as Item).i),
      [0, 3],
    );
    assert.deepEqual(
      run.executor.stopped.map((x) => (x as Item).i),
      [0],
    );
    assert.equal(run.engine.inFlight, 0);
  });

  it('items waiting for their key count against concurrency', () => {
    const inputs = Array.from({ length: 6 }, (_, i) => item(i, 'a', 1));
    const run = start({ concurrency: 3 });
    for (const x of inputs) run.engine.push(x);
    assert.equal(run.engine.inFlight, 3);
    run.engine.end();
    run.clock.run();
    assert.ok(run.completed);
    assert.ok(run.maxInFlight <= 3);
    assertKeysTakeTurns(run);
  });
});

describe('operators with `key` in virtual time', () => {
  function setup(durations: Record<string, number>, size = 3) {
    const scheduler = new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
    const { pool, executor } = fakePool({
      clock: rxClock,
      size,
      duration: (x: string) => durations[x] ?? 1,
    });
    return { scheduler, pool, executor };
  }
  const upper = (s: string) => s.toUpperCase();
  const key = (s: string) => s[0]!;
  const values = { x: 'a1', y: 'b1', z: 'a2' };
  const out = { A: 'A1', B: 'B1', C: 'A2' };

  it('ordered: a2 waits for a1 (same key), b1 runs beside it; output in source order', () => {
    const { scheduler, pool } = setup({ a1: 3, b1: 1, a2: 5 });
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('(xyz|)', values);
      expectObservable(source.pipe(parallelMap(upper, { pool, key, batchSize: 1 }))).toBe(
        '---(AB)-(C|)',
        out,
      );
    });
  });

  it('unordered: results as they come, each key in its source order', () => {
    const { scheduler, pool } = setup({ a1: 3, b1: 1, a2: 5 });
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('(xyz|)', values);
      expectObservable(
        source.pipe(parallelMap(upper, { pool, key, batchSize: 1, ordered: false })),
      ).toBe('-B-A----(C|)', out);
    });
  });

  it('without key, a2 runs beside a1 (the contrast)', () => {
    const { scheduler, pool } = setup({ a1: 3, b1: 1, a2: 5 });
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('(xyz|)', values);
      expectObservable(
        source.pipe(parallelMap(upper, { pool, batchSize: 1, ordered: false })),
      ).toBe('-B-A-(C|)', out);
    });
  });

  it('unsubscribing stops a1; a2, waiting for its key, never runs', () => {
    const { scheduler, pool, executor } = setup({ a1: 10, b1: 1, a2: 1 });
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('(xyz)', values);
      expectObservable(
        source.pipe(parallelMap(upper, { pool, key, batchSize: 1, ordered: false })),
        '^----!',
      ).toBe('-B', out);
      expectSubscriptions(source.subscriptions).toBe('^----!');
    });
    assert.deepEqual(executor.stopped, ['a1']);
    assert.deepEqual(executor.started, ['a1', 'b1']);
  });

  it('parallelSettle: a key that is not a string or number fails that item alone', () => {
    const { scheduler, pool } = setup({ a1: 3, a2: 5 });
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('(xyz|)', values);
      const settled = source.pipe(
        parallelSettle(upper, {
          pool,
          batchSize: 1,
          key: ((s: string) => (s === 'b1' ? { id: 1 } : s[0])) as never,
        }),
        map((r) =>
          r.ok
            ? `${r.index}:${r.value}`
            : `${r.index}:${r.error instanceof TaskError}:${(r.error.cause as Error).message}`,
        ),
      );
      expectObservable(settled).toBe('---(AB)-(C|)', {
        A: '0:A1',
        B: '1:true:Expected `key` to return a string or a number, got an object (Object)',
        C: '2:A2',
      });
    });
  });
});

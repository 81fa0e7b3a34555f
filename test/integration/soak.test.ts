/**
 * Soak tests with real workers: long streams with failures injected at random, by a seeded hash
 * of each item (test/fixtures/soak.mjs), so that every run injects the same ones and the test
 * knows which. Nothing may be lost, duplicated, reordered or left hanging, whether items throw or
 * kill their workers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lastValueFrom, map, type OperatorFunction, range, toArray } from 'rxjs';
import { type Failure, type Settled, TaskError, task, WorkerCrashedError } from 'rxpool';
import { parallelMap, parallelSettle, skipFailures } from 'rxpool/operators';
import { fixture, newPool, serves, within } from './_helpers.js';

const T = { timeout: 120_000 };

const soak = fixture('soak.mjs');
/** The fixture's rules, loaded here too, to know which items they pick. */
const rules = (await import(soak.href)) as {
  injectedFailure(i: number): boolean;
  injectedExit(i: number): boolean;
};

/** The items in `0..count-1` that `rule` picks. */
function picked(count: number, rule: (i: number) => boolean): number[] {
  const chosen: number[] = [];
  for (let i = 0; i < count; i++) if (rule(i)) chosen.push(i);
  return chosen;
}

/** `actual` equals `expected`, element by element; a failure names the first difference. */
function assertSameSequence(actual: readonly number[], expected: readonly number[]): void {
  const length = Math.min(actual.length, expected.length);
  for (let k = 0; k < length; k++) {
    if (actual[k] !== expected[k]) {
      assert.fail(`at position ${k}: got ${actual[k]}, expected ${expected[k]}`);
    }
  }
  assert.equal(actual.length, expected.length, 'how many values arrived');
}

const result = (i: number) => 2 * i + 1;

describe('soak: 100,000 items through parallelSettle + skipFailures, 0.1% of them throw', () => {
  const count = 100_000;
  const failing = picked(count, rules.injectedFailure);
  const failingSet = new Set(failing);

  const variants: readonly [string, OperatorFunction<number, unknown>][] = [
    // Batches of numbers travel as a Float64Array; batches of objects by structured clone.
    ['numbers', map((i: number) => i)],
    ['objects', map((i: number) => ({ i }))],
  ];
  for (const [name, toInput] of variants) {
    it(`${name}: every success once and in order, every failure counted`, T, async () => {
      assert.ok(failing.length > 50 && failing.length < 150, `${failing.length} injected`);
      const pool = newPool(2);
      const throwSome = task<unknown, number>(soak, 'throwSome');
      const failures: Failure<unknown>[] = [];
      const values = await within(
        lastValueFrom(
          range(0, count).pipe(
            toInput,
            parallelSettle(throwSome, { pool }),
            skipFailures((failure) => failures.push(failure)),
            toArray(),
          ),
        ),
        60_000,
        'the stream',
      );

      const expected: number[] = [];
      for (let i = 0; i < count; i++) if (!failingSet.has(i)) expected.push(result(i));
      assertSameSequence(values, expected);

      assertSameSequence(
        failures.map((f) => f.index),
        failing,
      );
      for (const failure of failures) {
        assert.ok(failure.error instanceof TaskError);
        assert.equal(failure.error.index, failure.index);
        assert.equal(failure.error.input, failure.input);
        assert.equal(failure.error.cause.message, `injected failure of item ${failure.index}`);
        assert.equal((failure.error.cause as { code?: string }).code, 'E_INJECTED');
      }
      const stats = pool.stats();
      assert.equal(stats.completed, count - failing.length);
      assert.equal(stats.failed, failing.length);
      assert.equal(await serves(pool), 42);
    });
  }
});

describe('soak: worker exits in 0.2% of the items', () => {
  const count = 10_000;
  const exiting = picked(count, rules.injectedExit);

  it(
    'ordered parallelMap with retry: 1 gives every item once, in order, without hanging',
    T,
    async () => {
      assert.ok(exiting.length > 8 && exiting.length < 40, `${exiting.length} exits injected`);
      const pool = newPool(2);
      const exitOnFirstAttempt = task<{ i: number; attempts: SharedArrayBuffer }, number>(
        soak,
        'exitOnFirstAttempt',
      );
      const attempts = new SharedArrayBuffer(count * Int32Array.BYTES_PER_ELEMENT);
      const values = await within(
        lastValueFrom(
          range(0, count).pipe(
            map((i) => ({ i, attempts })),
            parallelMap(exitOnFirstAttempt, { pool, retry: 1 }),
            toArray(),
          ),
        ),
        60_000,
        'the stream',
      );
      assertSameSequence(
        values,
        Array.from({ length: count }, (_, i) => result(i)),
      );
      // An exiting item ran again after its exit (and more than once if it was lost again with a
      // later batch-mate's exit).
      const runs = new Int32Array(attempts);
      for (const i of exiting) assert.ok(runs[i]! >= 2, `item ${i} ran ${runs[i]} times`);
      const stats = pool.stats();
      assert.equal(stats.failed, exiting.length, 'one failed attempt per exit');
      assert.equal(stats.completed, count);
      assert.equal(await serves(pool), 42);
    },
  );

  it('unordered parallelSettle fails exactly the exiting items, each once', T, async () => {
    const pool = newPool(2);
    const exitSome = task<number, number>(soak, 'exitSome');
    const settled = await within(
      lastValueFrom(
        range(0, count).pipe(parallelSettle(exitSome, { pool, ordered: false }), toArray()),
      ),
      60_000,
      'the stream',
    );
    assert.equal(settled.length, count);
    const seen = new Uint8Array(count);
    const crashed: number[] = [];
    for (const s of settled as Settled<number, number>[]) {
      assert.equal(seen[s.index], 0, `item ${s.index} emitted twice`);
      seen[s.index] = 1;
      assert.equal(s.input, s.index);
      if (s.ok) {
        assert.equal(s.value, result(s.index));
      } else {
        assert.ok(s.error instanceof WorkerCrashedError, `item ${s.index}: ${s.error.message}`);
        assert.equal(s.error.attempts, 1);
        crashed.push(s.index);
      }
    }
    assertSameSequence(
      crashed.sort((a, b) => a - b),
      exiting,
    );
    assert.equal(await serves(pool), 42);
  });
});

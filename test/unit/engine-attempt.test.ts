/**
 * A failed attempt's error and retry verdict (src/engine/attempt.ts), the engine-kept timeout
 * (src/engine/timeout.ts), and moved buffers (src/engine/transfer.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { attemptError, retries, stoppedError } from '../../src/engine/attempt.js';
import { noRetry, retryPolicy } from '../../src/engine/retry.js';
import { nextCheck, oneByOne } from '../../src/engine/timeout.js';
import { Transfers } from '../../src/engine/transfer.js';
import { TaskError, TaskTimeoutError, WorkerCrashedError } from '../../src/errors.js';
import type { ExecutorTraits } from '../../src/executor/contract.js';

const details = { index: 4, input: 'x', attempts: 2, emitted: undefined };

describe('attemptError', () => {
  it('no failure: a run past the engine-kept timeout, a TaskTimeoutError with that timeout', () => {
    const error = attemptError(details, undefined, 50);
    assert.ok(error instanceof TaskTimeoutError);
    assert.equal((error as TaskTimeoutError).timeout, 50);
    assert.deepEqual([error.index, error.input, error.attempts], [4, 'x', 2]);
  });

  it('a failure of kind timeout (executor-enforced) is a TaskTimeoutError too', () => {
    const failure = { error: new Error('late'), kind: 'timeout', retryable: true } as const;
    assert.ok(attemptError(details, failure, 50) instanceof TaskTimeoutError);
  });

  it('crashed: a WorkerCrashedError whose cause is the failure’s error', () => {
    const cause = new Error('exit 134');
    const error = attemptError(
      details,
      { error: cause, kind: 'crashed', retryable: true },
      undefined,
    );
    assert.ok(error instanceof WorkerCrashedError);
    assert.equal(error.cause, cause);
  });

  it('threw: a TaskError whose message carries the failure’s hint and the engine’s, a line each', () => {
    const cause = new RangeError('bad');
    const failure = { error: cause, kind: 'threw', retryable: true, hint: 'first' } as const;
    const error = attemptError({ ...details, emitted: 3 }, failure, undefined, 'second');
    assert.equal(error.constructor, TaskError);
    assert.equal(error.message, 'Item 4 failed after 2 attempts: RangeError: bad\nfirst\nsecond');
    assert.equal(error.emitted, 3);
  });
});

describe('retries', () => {
  const error = new TaskError({ index: 0, input: 1, attempts: 1, cause: new Error('x') });
  const threw = { error: new Error('x'), kind: 'threw', retryable: true } as const;

  it('goes again while the count is not spent', () => {
    const policy = retryPolicy(2);
    assert.equal(retries(policy, error, 1, threw, 0), true);
    assert.equal(retries(policy, error, 2, threw, 0), true);
    assert.equal(retries(policy, error, 3, threw, 0), false);
    assert.equal(retries(noRetry, error, 1, threw, 0), false);
  });

  it('never for a failure that is not retryable, nor a flat item whose values went out', () => {
    const policy = retryPolicy(5);
    assert.equal(retries(policy, error, 1, { ...threw, retryable: false }, 0), false);
    assert.equal(retries(policy, error, 1, threw, 1), false);
    assert.equal(retries(policy, error, 1, undefined, 0), true, 'a timeout is retryable');
  });

  it('asks retryIf with the error and the attempts that ran', () => {
    const seen: unknown[] = [];
    const policy = retryPolicy({
      count: 3,
      retryIf: (e, attempt) => {
        seen.push([e, attempt]);
        return attempt < 2;
      },
    });
    assert.equal(retries(policy, error, 1, threw, 0), true);
    assert.equal(retries(policy, error, 2, threw, 0), false);
    assert.deepEqual(seen, [
      [error, 1],
      [error, 2],
    ]);
  });

  it('stoppedError is named for what it is', () => {
    assert.equal(stoppedError().name, 'StoppedError');
  });
});

describe('timeouts kept by the engine', () => {
  const traits = (knowsPosition: boolean, enforcesTimeouts: boolean): ExecutorTraits => ({
    targetBatchMs: 8,
    knowsPosition,
    enforcesTimeouts,
  });

  it('items go one a batch only with a timeout the executor can neither enforce nor place', () => {
    assert.equal(oneByOne(traits(false, false), 100), true);
    assert.equal(oneByOne(traits(true, false), 100), false);
    assert.equal(oneByOne(traits(false, true), 100), false);
    assert.equal(oneByOne(traits(false, false), undefined), false);
  });

  it('nextCheck: the time left, the whole timeout when nothing is known to run, stop once past', () => {
    assert.equal(nextCheck(100, undefined), 100);
    assert.equal(nextCheck(100, 30), 70);
    assert.equal(nextCheck(100, 99.5), undefined, 'a timer may fire up to 1 ms early');
    assert.equal(nextCheck(100, 250), undefined);
  });
});

describe('Transfers', () => {
  it('collects an item’s buffers once, skips shared memory, and refuses to move them twice', () => {
    const buffer = new ArrayBuffer(8);
    const shared = new SharedArrayBuffer(8);
    const transfers = new Transfers<{ a: ArrayBuffer; s: SharedArrayBuffer }>((input) => [
      input.a,
      input.s,
    ]);
    assert.equal(transfers.collect(0, { a: buffer, s: shared }), undefined);
    assert.deepEqual(transfers.takeList(), [buffer]);
    assert.equal(transfers.takeList(), undefined, 'the next batch starts a new list');
    assert.equal(transfers.has(0), true);
    const again = transfers.collect(0, { a: buffer, s: shared });
    assert.equal(again?.name, 'TransferredError');
    transfers.delete(0);
    assert.equal(transfers.collect(0, { a: buffer, s: shared }), undefined);
  });

  it('an item with only shared memory moves nothing, and may go again', () => {
    const transfers = new Transfers<SharedArrayBuffer>((input) => [input]);
    assert.equal(transfers.collect(0, new SharedArrayBuffer(4)), undefined);
    assert.equal(transfers.takeList(), undefined);
    assert.equal(transfers.has(0), false);
  });

  it('what `transfer` throws is the item’s problem, as an Error', () => {
    const transfers = new Transfers<number>(() => {
      throw 'nope';
    });
    const problem = transfers.collect(3, 1);
    assert.ok(problem instanceof Error);
    assert.equal(problem.message, 'nope');
  });
});

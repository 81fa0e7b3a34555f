/**
 * The producer's pure pieces of `rxpool/bullmq`: what a job's state or an event means for its
 * batch (src/bullmq/reconcile.ts), the events stream's entries (src/bullmq/events.ts), a batch
 * fitted into one job (src/bullmq/fit.ts), and the options' checks (src/bullmq/options.ts).
 * What talks to Redis is tested on a real redis-server (test/integration/bullmq-*.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseEvent } from '../../src/bullmq/events.js';
import { fitBatch } from '../../src/bullmq/fit.js';
import { CANCELLED, decodeBatch } from '../../src/bullmq/job.js';
import { type BullmqExecutorOptions, bullmqSettings } from '../../src/bullmq/options.js';
import {
  completedOutcome,
  crashedOutcome,
  type JobState,
  judgeEvent,
  judgeFailure,
  judgeJob,
  refusedOutcome,
  STALLED_REASON,
} from '../../src/bullmq/reconcile.js';
import { encodeResult, type ItemFailureWire, wireError } from '../../src/bullmq/result.js';
import type { ExecutorBatch, FlatEnd, ItemFailure } from '../../src/executor/contract.js';

const state = (fields: Partial<JobState>): JobState => ({ stalledCounter: 0, data: {}, ...fields });

/** A result as the worker writes it into the job's data, and as Redis gives it back (JSON). */
function result(values: unknown[], failures: ItemFailureWire[] | null, ms = 40): unknown {
  return JSON.parse(JSON.stringify(encodeResult({ values, failures }, ms, 'host:7')));
}

test("a job's state: gone, waiting, running, stalled, completed, failed", () => {
  assert.deepEqual(judgeJob(undefined), { type: 'lost' });
  assert.deepEqual(judgeJob(state({})), { type: 'waiting' });
  assert.deepEqual(judgeJob(state({ processedOn: 5 })), { type: 'active' });
  // A stalled job is back in `wait` with a deferred failure: the counter tells, not a failure.
  assert.deepEqual(judgeJob(state({ processedOn: 5, stalledCounter: 1, processedBy: 'h:1' })), {
    type: 'crashed',
    worker: 'h:1',
  });
  const data = { v: 4, outcomes: 'x' };
  assert.deepEqual(judgeJob(state({ processedOn: 5, finishedOn: 9, data })), {
    type: 'completed',
    result: data,
  });
  assert.deepEqual(
    judgeJob(state({ finishedOn: 9, failedReason: 'format version 3', processedBy: 'h:1' })),
    { type: 'refused', reason: 'format version 3' },
  );
  assert.deepEqual(
    judgeJob(state({ finishedOn: 9, failedReason: `job ${STALLED_REASON}`, processedBy: 'h:2' })),
    { type: 'crashed', worker: 'h:2' },
  );
  assert.deepEqual(judgeJob(state({ finishedOn: 9, failedReason: CANCELLED })), {
    type: 'aborted',
  });
});

test("a failed job's reason: stalled, cancelled, or refused by the worker", () => {
  assert.deepEqual(judgeFailure(`job ${STALLED_REASON}`, 'h:3'), {
    type: 'crashed',
    worker: 'h:3',
  });
  assert.deepEqual(judgeFailure(CANCELLED, undefined), { type: 'aborted' });
  // Only the exact reason is a cancel: a task's message that quotes it is a refusal.
  assert.deepEqual(judgeFailure(`${CANCELLED}!`, undefined), {
    type: 'refused',
    reason: `${CANCELLED}!`,
  });
});

test('an entry of the events stream, read from its fields', () => {
  const fields = ['event', 'failed', 'jobId', 'rx.ab.3', 'failedReason', 'bad', 'prev', 'active'];
  const event = parseEvent(fields);
  assert.deepEqual(event, { event: 'failed', jobId: 'rx.ab.3', failedReason: 'bad' });
  assert.deepEqual(judgeEvent(event), { type: 'refused', reason: 'bad' });
  // A field without its value is ignored.
  assert.deepEqual(parseEvent(['jobId', 'rx.ab.4', 'event']), {
    event: undefined,
    jobId: 'rx.ab.4',
    failedReason: undefined,
  });
  const of = (name: string) => judgeEvent({ event: name, jobId: 'j', failedReason: undefined });
  assert.deepEqual(of('completed'), { type: 'fetch' });
  assert.deepEqual(of('stalled'), { type: 'crashed', worker: undefined });
  assert.deepEqual(of('active'), { type: 'active' });
  assert.deepEqual(of('failed'), { type: 'refused', reason: '' });
  assert.equal(of('waiting'), undefined);
  assert.equal(of('removed'), undefined);
});

test("a completed job's outcome: values, each failure charged as its kind, and the wait", () => {
  const failures: ItemFailureWire[] = [
    { index: 1, kind: 'timeout', error: wireError('TimeoutError', 'late', undefined) },
    { index: 2, kind: 'clone', error: wireError('DataCloneError', 'no', 'clone', 'advice') },
    { index: 3, kind: 'refused', error: wireError('ModuleNotServedError', 'not here', 'load') },
    { index: 4, kind: 'crashed', error: wireError('WorkerExit', 'exit 3', undefined) },
  ];
  const values = [new Date(7), undefined, undefined, undefined, undefined, -0];
  const outcome = completedOutcome(result(values, failures, 40), 6, 1000, 1100);
  assert.equal(outcome.type, 'done');
  if (outcome.type !== 'done') return;
  assert.equal(outcome.count, 6);
  assert.deepEqual(outcome.values[0], new Date(7));
  assert.ok(Object.is(outcome.values[5], -0));
  assert.equal(outcome.ms, 40);
  assert.equal(outcome.waitedMs, 60);
  assert.equal(outcome.workerId, 'host:7');
  const by = (p: number) => outcome.failures?.[p] as ItemFailure;
  assert.equal(outcome.failures?.[0], undefined);
  assert.equal(by(1).kind, 'timeout');
  assert.equal(by(1).retryable, true);
  assert.equal(by(2).kind, 'threw');
  assert.equal(by(2).retryable, false);
  assert.equal(by(2).hint, 'advice');
  assert.equal(by(2).error.name, 'DataCloneError');
  assert.equal(by(3).retryable, false);
  assert.equal(by(3).error.message, 'not here');
  assert.equal(by(4).kind, 'crashed');
  assert.equal(by(4).retryable, true);
  // A batch with no failure has none to read.
  const clean = completedOutcome(result([1, 2], null), 2, 0, 0);
  assert.equal(clean.type === 'done' && clean.failures, null);
});

test("a flat batch's values and ends go out per item, in order, before the outcome", () => {
  const failed = { index: 1, kind: 'threw' as const, error: wireError('Error', 'boom', undefined) };
  const got: [number, unknown[], FlatEnd | undefined][] = [];
  const outcome = completedOutcome(
    result([['a', 'b'], ['c'], 'not an array'], [failed]),
    3,
    0,
    0,
    (p, values, end) => got.push([p, Array.from(values), end]),
  );
  assert.equal(outcome.type, 'done');
  assert.deepEqual(
    got.map(([p, values, end]) => [p, values, end?.failure?.error.message]),
    [
      [0, ['a', 'b'], undefined],
      [1, ['c'], 'boom'],
      [2, [], undefined],
    ],
  );
});

test('a result that cannot be read, or is for another count, blames every item', () => {
  for (const [bad, count, why] of [
    [{ v: 3, outcomes: '' }, 2, /format version/],
    [null, 2, /format version/],
    [result([1, 2], null), 3, /2 outcomes for 3 inputs/],
  ] as const) {
    const outcome = completedOutcome(bad, count, 0, 0);
    assert.equal(outcome.type, 'unsendable');
    if (outcome.type !== 'unsendable') return;
    assert.equal(outcome.blamed?.size, count);
    assert.match(outcome.blamed!.get(count - 1)!.message, /^unreadable job result: /);
    assert.match(outcome.blamed!.get(0)!.message, why);
  }
});

test('a crashed batch goes again whole; a refused one blames every item with the reason', () => {
  const crashed = crashedOutcome('host:9');
  assert.equal(crashed.type, 'crashed');
  if (crashed.type !== 'crashed') return;
  assert.equal(crashed.position, undefined);
  assert.equal(crashed.error.name, 'WorkerCrashedError');
  assert.match(crashed.error.message, /running this batch \(host:9\) stopped answering/);
  const unknown = crashedOutcome(undefined);
  assert.match(unknown.type === 'crashed' ? unknown.error.message : '', /this batch stopped/);
  const refused = refusedOutcome(3, 'format version 3');
  assert.equal(refused.type, 'unsendable');
  if (refused.type !== 'unsendable') return;
  assert.deepEqual([...refused.blamed!.keys()], [0, 1, 2]);
  assert.equal(refused.blamed!.get(2)!.message, 'the worker refused the job: format version 3');
});

function batch(inputs: unknown[]): ExecutorBatch {
  return {
    work: { kind: 'inline', source: '(x) => x' },
    inputs,
    spans: [{ index: 10, count: inputs.length, attempt: 2 }],
    transferList: undefined,
    timeout: undefined,
    expectedMs: undefined,
    stream: 's',
  };
}

test("a batch over maxBatchBytes goes as its first items that fit; the rest stay the engine's", () => {
  const inputs = Array.from({ length: 100 }, (_, i) => 'x'.repeat(100) + i);
  const fitted = fitBatch(batch(inputs), 'tag.s', 2048);
  assert.ok('data' in fitted);
  if (!('data' in fitted)) return;
  assert.ok(fitted.count >= 1 && fitted.count < 100, `${fitted.count} items`);
  assert.ok(fitted.data.inputs.length <= 2048);
  const decoded = decodeBatch(JSON.parse(JSON.stringify(fitted.data)));
  assert.equal(decoded.stream, 'tag.s');
  assert.deepEqual(decoded.inputs, inputs.slice(0, fitted.count));
  assert.deepEqual(decoded.spans, [{ index: 10, count: fitted.count, attempt: 2 }]);
  // A batch that fits goes whole.
  const whole = fitBatch(batch(inputs.slice(0, 3)), 'tag.s', 2048);
  assert.ok('data' in whole && whole.count === 3);
});

test('an item too large alone, or one that cannot be serialized, is blamed by itself', () => {
  const large = fitBatch(batch(['y'.repeat(5000), 'z']), 's', 1024);
  assert.ok('outcome' in large && large.outcome.type === 'unsendable');
  if (!('outcome' in large) || large.outcome.type !== 'unsendable') return;
  assert.deepEqual([...large.outcome.blamed!.keys()], [0]);
  const error = large.outcome.blamed!.get(0)!;
  assert.ok(error instanceof RangeError);
  assert.match(error.message, /over the executor's maxBatchBytes of 1024/);
  const unsendable = fitBatch(batch([1, () => 2, 3]), 's', 1 << 20);
  assert.ok('outcome' in unsendable && unsendable.outcome.type === 'unsendable');
  if (!('outcome' in unsendable) || unsendable.outcome.type !== 'unsendable') return;
  assert.deepEqual([...unsendable.outcome.blamed!.keys()], [1]);
});

test("the executor's options: defaults, and a clear message for each bad one", () => {
  const settings = bullmqSettings({ connection: 'redis://h:1', queue: 'q' });
  assert.deepEqual(settings, {
    connection: 'redis://h:1',
    queue: 'q',
    prefix: 'bull',
    capacity: undefined,
    jobsPerWorker: 2,
    targetBatchMs: 200,
    maxBatchBytes: 8 * 1024 * 1024,
    reconcileMs: 1000,
    unreachableMs: 5000,
    events: true,
    maxLen: undefined,
  });
  const bad = (options: unknown, message: string) =>
    assert.throws(
      () => bullmqSettings(options as BullmqExecutorOptions),
      (error: Error) => error instanceof TypeError && error.message === message,
    );
  const base = { connection: 'redis://h:1', queue: 'q' };
  bad(null, 'Expected `options` to be an object ({ connection, queue }), got `null`');
  bad(
    { ...base, connection: 'http://h' },
    "Expected `connection` to be a redis:// or rediss:// URL, or ioredis options, got `'http://h'` (string)",
  );
  bad({ ...base, queue: '' }, "Expected `queue` to be a non-empty string, got `''` (string)");
  bad({ ...base, capacity: 0 }, 'Expected `capacity` to be an integer >= 1, got `0` (number)');
  bad(
    { ...base, maxBatchBytes: 32 * 1024 * 1024 },
    'Expected `maxBatchBytes` to be an integer from 1024 to 16777216, got `33554432` (number)',
  );
  bad({ ...base, events: 'yes' }, "Expected `events` to be a boolean, got `'yes'` (string)");
  bad(
    { ...base, streams: { events: { maxLen: 0 } } },
    'Expected `streams.events.maxLen` to be an integer >= 1, got `0` (number)',
  );
});

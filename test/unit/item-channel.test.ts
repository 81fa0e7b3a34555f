/**
 * The engine's attempts on the `rxpool:item` channel where items part ways: a crash whose culprit
 * is unknown sends its batch back in halves (the batch-mates' attempts end with `again`, and go
 * again under the same attempt number), retries count up, and every `start` gets its `asyncEnd`.
 * With the in-thread fake executor and a virtual clock.
 */
import assert from 'node:assert/strict';
import { tracingChannel } from 'node:diagnostics_channel';
import { it } from 'node:test';
import { Engine } from '../../src/engine/engine.js';
import { retryPolicy } from '../../src/engine/retry.js';
import { WorkerCrashedError } from '../../src/errors.js';
import { ITEM_CHANNEL, type ItemTrace } from '../../src/executor/item-channel.js';
import { toWorkSpec } from '../../src/pool/task.js';
import { dispatcherOf, FakeExecutor } from '../support/fake-executor.js';
import { VirtualClock } from '../support/virtual-clock.js';

it('a crash with its culprit unknown: batch-mates end with again, the culprit fails each attempt', () => {
  const clock = new VirtualClock();
  // Without knowing which item runs, a crash of a batch has no culprit.
  const executor = new FakeExecutor({ clock, size: 1, knowsPosition: false });
  const events: [string, ItemTrace][] = [];
  const channel = tracingChannel(ITEM_CHANNEL);
  const handlers = {
    start: (m: unknown) => events.push(['start', m as ItemTrace]),
    end: (m: unknown) => events.push(['end', m as ItemTrace]),
    asyncStart: (m: unknown) => events.push(['asyncStart', m as ItemTrace]),
    asyncEnd: (m: unknown) => events.push(['asyncEnd', m as ItemTrace]),
    error: (m: unknown) => events.push(['error', m as ItemTrace]),
  };
  channel.subscribe(handlers);
  const values: number[] = [];
  const failures: unknown[] = [];
  try {
    const engine = new Engine<number, number>(
      {
        work: toWorkSpec((n: number) => {
          if (n === 2) {
            const crash = new Error('down');
            crash.name = 'FakeCrash';
            throw crash;
          }
          return n;
        }),
        concurrency: 8,
        ordered: true,
        batchSize: 4,
        timeout: undefined,
        retry: retryPolicy(1),
        transfer: undefined,
      },
      dispatcherOf(executor),
      clock,
      {
        value: (value) => values.push(value),
        failure: (error) => failures.push(error),
        complete: () => {},
        error: (error) => assert.fail(String(error)),
      },
    );
    for (const n of [0, 1, 2, 3]) engine.push(n);
    engine.end();
    clock.run();
  } finally {
    channel.unsubscribe(handlers);
  }
  assert.deepEqual(values, [0, 1, 3]);
  assert.equal(failures.length, 1);

  const traces = [...new Set(events.map(([, trace]) => trace))];
  for (const trace of traces) {
    const mine = events.filter(([, t]) => t === trace).map(([event]) => event);
    const expected =
      trace.error !== undefined
        ? ['start', 'end', 'error', 'asyncStart', 'asyncEnd']
        : ['start', 'end', 'asyncStart', 'asyncEnd'];
    assert.deepEqual(mine, expected, `item ${trace.index} attempt ${trace.attempt}`);
    // Sent back without a charge, or ended with a result: one or the other.
    assert.equal(trace.again === true, trace.error === undefined && !('result' in trace));
  }
  const ofItem = (index: number) => traces.filter((t) => t.index === index);
  // The culprit crashed twice (its retry too), charged as attempts 1 and 2.
  const culprit = ofItem(2).filter((t) => t.error !== undefined);
  assert.deepEqual(
    culprit.map((t) => t.attempt),
    [1, 2],
  );
  for (const t of culprit) assert.ok(t.error instanceof WorkerCrashedError);
  // Every other item succeeded once, at attempt 1, after going again with the same number.
  for (const index of [0, 1, 3]) {
    const done = ofItem(index).filter((t) => 'result' in t);
    assert.equal(done.length, 1);
    assert.equal(done[0]!.result, index);
    assert.ok(ofItem(index).every((t) => t.attempt === 1));
  }
  assert.ok(
    traces.some((t) => t.again),
    'some batch-mates went again',
  );
});

it('flat items: each attempt ends once, when its end comes, even several to a batch', () => {
  const clock = new VirtualClock();
  const executor = new FakeExecutor({ clock, size: 1 });
  const events: [string, ItemTrace][] = [];
  const channel = tracingChannel(ITEM_CHANNEL);
  const handlers = {
    start: (m: unknown) => events.push(['start', m as ItemTrace]),
    end: (m: unknown) => events.push(['end', m as ItemTrace]),
    asyncStart: (m: unknown) => events.push(['asyncStart', m as ItemTrace]),
    asyncEnd: (m: unknown) => events.push(['asyncEnd', m as ItemTrace]),
    error: (m: unknown) => events.push(['error', m as ItemTrace]),
  };
  channel.subscribe(handlers);
  const values: string[] = [];
  const failures: unknown[] = [];
  try {
    const engine = new Engine<number, string>(
      {
        work: toWorkSpec(function* (n: number) {
          yield `${n}a`;
          if (n === 2) throw new Error('two');
          yield `${n}b`;
        }),
        concurrency: 8,
        ordered: true,
        batchSize: 4,
        timeout: undefined,
        retry: retryPolicy(0),
        transfer: undefined,
        flat: { highWaterMark: 8 },
      },
      dispatcherOf(executor),
      clock,
      {
        value: (value) => values.push(value),
        failure: (error) => failures.push(error),
        complete: () => {},
        error: (error) => assert.fail(String(error)),
      },
    );
    for (const n of [0, 1, 2, 3]) engine.push(n);
    engine.end();
    clock.run();
  } finally {
    channel.unsubscribe(handlers);
  }
  assert.deepEqual(values, ['0a', '0b', '1a', '1b', '2a', '3a', '3b']);
  assert.equal(failures.length, 1);
  assert.ok(
    executor.batches.some((batch) => batch.length > 1),
    'several items to a batch',
  );
  const traces = [...new Set(events.map(([, trace]) => trace))];
  assert.equal(traces.length, 4);
  for (const trace of traces) {
    const mine = events.filter(([, t]) => t === trace).map(([event]) => event);
    const expected =
      trace.index === 2
        ? ['start', 'end', 'error', 'asyncStart', 'asyncEnd']
        : ['start', 'end', 'asyncStart', 'asyncEnd'];
    assert.deepEqual(mine, expected, `item ${trace.index}`);
  }
});

/**
 * The BullMQ job format (src/bullmq/job.ts): values keep structured-clone semantics through the
 * JSON that BullMQ stores, errors keep their shape, and a wrong job is refused clearly. Also the
 * matching of a producer's module to a served one (src/bullmq/serve.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  cancelChannel,
  decodeBatch,
  decodeCancel,
  encodeBatch,
  encodeCancel,
  FormatError,
} from '../../src/bullmq/job.js';
import { matchModule, type ServedModule } from '../../src/bullmq/modules.js';
import {
  type BatchOutcomes,
  encodeResult,
  type ItemFailureWire,
  toWireError,
} from '../../src/bullmq/result.js';
import { reviveError } from '../../src/wire/error.js';
import { decodeResult, type ItemOutcome } from '../support/bullmq-outcomes.js';

/** Through the job's data as BullMQ stores it: JSON. */
function throughRedis<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Per-item outcomes as the worker collects them: the values, and the failures apart. */
function parts(outcomes: readonly ItemOutcome[]): BatchOutcomes {
  const failures: ItemFailureWire[] = [];
  const values = outcomes.map((outcome, index) => {
    if (outcome.ok) return outcome.value;
    failures.push({ index, kind: outcome.kind, error: outcome.error });
    return undefined;
  });
  return { values, failures };
}

function oddValues(): unknown[] {
  const cycle: Record<string, unknown> = { name: 'cycle' };
  cycle.self = cycle;
  // biome-ignore lint/suspicious/noSparseArray: a hole must stay a hole
  const sparse = [1, , 3];
  return [
    new Date(1_700_000_000_000),
    new Map<unknown, unknown>([
      ['a', 1],
      [2, new Set(['x'])],
    ]),
    new Set([1, 'two']),
    new Uint8Array([1, 2, 255]),
    new Float64Array([0.5, -0, Number.NaN]),
    new Int32Array([-1, 2 ** 31 - 1]),
    -0,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    123n ** 5n,
    undefined,
    null,
    /a+b/gi,
    sparse,
    { nested: { deep: [new Date(0), undefined] } },
    cycle,
    'text with \u0000 and é and 🙂',
    new ArrayBuffer(4),
  ];
}

test('inputs keep structured-clone semantics through the job data (as with threads)', () => {
  const inputs = oddValues();
  const data = throughRedis(
    encodeBatch({
      stream: 's',
      work: { kind: 'inline', source: '(x) => x' },
      timeout: 5,
      spans: [
        { index: 7, count: 2, attempt: 1 },
        { index: 10, count: inputs.length - 2, attempt: 3 },
      ],
      inputs,
    }),
  );
  const decoded = decodeBatch(data);
  assert.equal(decoded.stream, 's');
  assert.equal(decoded.timeout, 5);
  assert.deepEqual(decoded.work, { kind: 'inline', source: '(x) => x' });
  assert.equal(decoded.inputs.length, inputs.length);
  assert.deepStrictEqual(decoded.inputs, structuredClone(inputs));
  assert.deepEqual(decoded.spans, [
    { index: 7, count: 2, attempt: 1 },
    { index: 10, count: inputs.length - 2, attempt: 3 },
  ]);
  // deepStrictEqual tells -0 from 0 through Object.is; check the kinds explicitly too
  assert.ok(Object.is(decoded.inputs[6], -0));
  assert.ok(decoded.inputs[0] instanceof Date);
  assert.ok(decoded.inputs[1] instanceof Map);
  assert.ok(decoded.inputs[3] instanceof Uint8Array);
  assert.equal(typeof decoded.inputs[9], 'bigint');
  assert.ok(!(1 in (decoded.inputs[13] as unknown[])), 'the hole stays a hole');
  const cycle = decoded.inputs[15] as { self: unknown };
  assert.equal(cycle.self, cycle);
});

test("the items' trace contexts travel with the job: shared by the items of one context", () => {
  const work = { kind: 'inline', source: '(x) => x' } as const;
  const a = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
  const b = {
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01',
    tracestate: 'k=v',
  };
  const data = throughRedis(
    encodeBatch({
      stream: 's',
      work,
      timeout: undefined,
      inputs: [1, 2, 3, 4],
      traces: [a, a, undefined, b],
    }),
  );
  const { traces } = decodeBatch(data);
  assert.deepEqual(traces, [a, a, undefined, b]);
  assert.equal(traces![0], traces![1], 'one object for the items of one context');
  // None carried: no field at all (a job as before).
  const plain = encodeBatch({ stream: 's', work, timeout: undefined, inputs: [1] });
  assert.equal('traces' in plain, false);
  assert.equal(decodeBatch(throughRedis(plain)).traces, undefined);
});

test('results keep structured-clone semantics; failures keep their kind', () => {
  const values = oddValues();
  const outcomes: ItemOutcome[] = values.map((value) => ({ ok: true, value }));
  outcomes.push({ ok: false, kind: 'timeout', error: toWireError(new Error('late')) });
  const result = throughRedis(encodeResult(parts(outcomes), 12.5, 'host:1'));
  assert.equal(result.ms, 12.5);
  assert.equal(result.worker, 'host:1');
  const decoded = decodeResult(result, outcomes.length);
  assert.deepStrictEqual(
    decoded.slice(0, values.length).map((o) => (o.ok ? o.value : o)),
    structuredClone(values),
  );
  const last = decoded[values.length]!;
  assert.ok(!last.ok);
  assert.equal(last.kind, 'timeout');
  assert.equal(last.error.message, 'late');
});

test('a thrown error keeps its class name, message, stack, code, own properties and cause', () => {
  class QuotaError extends Error {
    code = 'E_QUOTA';
    limit = 42;
    when = new Date(0);
    sizes = new Map([['a', 1]]);
    constructor(message: string, options?: ErrorOptions) {
      super(message, options);
      this.name = 'QuotaError';
    }
  }
  const thrown = new QuotaError('over quota', { cause: new RangeError('too big') });
  const outcome: ItemOutcome = { ok: false, kind: 'threw', error: toWireError(thrown) };
  const [decoded] = decodeResult(throughRedis(encodeResult(parts([outcome]), 1, 'w')), 1);
  assert.ok(decoded && !decoded.ok);
  assert.equal(decoded.kind, 'threw');
  const revived = reviveError(decoded.error) as Error & Record<string, unknown>;
  assert.equal(revived.name, 'QuotaError');
  assert.equal(revived.message, 'over quota');
  assert.equal(revived.stack, thrown.stack);
  assert.equal(revived.code, 'E_QUOTA');
  assert.equal(revived.limit, 42);
  assert.deepStrictEqual(revived.when, new Date(0));
  assert.deepStrictEqual(revived.sizes, new Map([['a', 1]]));
  assert.equal((revived.cause as Error).name, 'RangeError');
  assert.equal((revived.cause as Error).message, 'too big');
});

test('a thrown non-Error and an unserializable property travel as descriptions', () => {
  const thrown = Object.assign(new Error('with a function'), { callback: () => 1, code: 3 });
  const wire = toWireError(thrown);
  assert.equal(typeof wire.props.callback, 'string');
  assert.equal(wire.props.code, 3);
  const nonError = toWireError('just a string');
  assert.equal(nonError.name, 'NonError');
  assert.equal(nonError.nonError, true);
  assert.equal(nonError.props.value, 'just a string');
});

test('a result that cannot be serialized fails its item alone, as a clone failure', () => {
  const outcomes: ItemOutcome[] = [
    { ok: true, value: 1 },
    { ok: true, value: { fn: () => 1 } },
    { ok: true, value: new Date(5) },
  ];
  const decoded = decodeResult(throughRedis(encodeResult(parts(outcomes), 1, 'w')), 3);
  assert.deepStrictEqual(decoded[0], { ok: true, value: 1 });
  assert.deepStrictEqual(decoded[2], { ok: true, value: new Date(5) });
  const failed = decoded[1]!;
  assert.ok(!failed.ok);
  assert.equal(failed.kind, 'clone');
  assert.equal(failed.error.name, 'DataCloneError');
  assert.equal(failed.error.fatal, 'clone');
  assert.match(failed.error.message, /cannot be serialized/);
});

test('a job of another format version, or malformed, is refused with a FormatError', () => {
  const good = encodeBatch({
    stream: 's',
    work: { kind: 'module', url: 'file:///a/b.mjs', name: 'default' },
    timeout: undefined,
    spans: [{ index: 0, count: 1, attempt: 1 }],
    inputs: [1],
  });
  assert.equal(good.timeout, null);
  assert.equal(decodeBatch(throughRedis(good)).timeout, undefined);
  const cases: [unknown, RegExp][] = [
    [null, /not an object/],
    [{ ...good, v: 3 }, /format version 3; this worker reads version 4/],
    [{ ...good, stream: 3 }, /no stream id/],
    [{ ...good, work: { kind: 'module', url: 'x' } }, /no valid work spec/],
    [{ ...good, timeout: 0 }, /timeout is not a number above 0/],
    [{ ...good, count: 2 }, /holds 1 inputs, its count says 2/],
    [
      { ...good, spans: [{ index: 0, count: 2, attempt: 1 }] },
      /spans do not describe its 1 inputs/,
    ],
    [{ ...good, spans: undefined }, /spans do not describe its 1 inputs/],
  ];
  for (const [data, message] of cases) {
    assert.throws(
      () => decodeBatch(data),
      (error: Error) => {
        assert.ok(error instanceof FormatError);
        assert.match(error.message, message);
        return true;
      },
    );
  }
  const one = encodeResult({ values: [1], failures: null }, 1, 'w');
  assert.throws(() => decodeResult(one, 2), /1 outcomes for 2 inputs/);
  assert.throws(
    () => decodeResult({ ...one, outcomes: good.inputs }, 1),
    /not \[values, failures\]/,
  );
  const badIndex = encodeResult(
    { values: [1], failures: [{ index: 5, kind: 'threw', error: toWireError(new Error('x')) }] },
    1,
    'w',
  );
  assert.throws(() => decodeResult(badIndex, 1), /malformed failure/);
  assert.throws(() => decodeResult('done', 1), FormatError);
});

test('cancel messages name a stream, on a channel per queue', () => {
  assert.equal(cancelChannel('jobs'), 'bull:jobs:rxpool:cancel');
  assert.equal(cancelChannel('jobs', 'app'), 'app:jobs:rxpool:cancel');
  assert.equal(decodeCancel(encodeCancel('stream-7')), 'stream-7');
  assert.equal(decodeCancel('not json'), undefined);
  assert.equal(decodeCancel(JSON.stringify({ v: 9, stream: 'x' })), undefined);
});

test("a producer's module is matched by file name, then by the most folders in common", () => {
  const served = (given: string): ServedModule => ({
    given,
    url: new URL(given, 'file:///srv/app/').href,
    functions: ['default'],
  });
  const modules = [served('tasks/square.mjs'), served('lib/hash.mjs'), served('other/hash.mjs')];
  const match = (url: string) => matchModule(url, modules);
  const square = match('file:///home/me/project/tasks/square.mjs');
  assert.ok(square.ok && square.module.given === 'tasks/square.mjs');
  const lib = match('file:///C:/work/lib/hash.mjs');
  assert.ok(lib.ok && lib.module.given === 'lib/hash.mjs');
  const same = match('file:///srv/app/other/hash.mjs');
  assert.ok(same.ok && same.module.given === 'other/hash.mjs');
  const tie = match('file:///home/me/hash.mjs');
  assert.ok(!tie.ok);
  assert.match(
    tie.message,
    /matches several served modules equally \(lib\/hash.mjs, other\/hash.mjs\)/,
  );
  const none = match('file:///home/me/cube.mjs');
  assert.ok(!none.ok);
  assert.match(none.message, /does not serve the task module 'file:\/\/\/home\/me\/cube.mjs'/);
  const spaces = matchModule('file:///x/my%20task.mjs', [served('my task.mjs')]);
  assert.ok(spaces.ok);
});

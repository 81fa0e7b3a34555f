/**
 * The worker-side batch runner (src/worker/runner.ts), driven in this thread with no worker: a
 * {@link Runner} is made as the host glue makes one, takes requests as they come off a link or a
 * child's channel, and its answers are checked as the main side reads them. The transport is a
 * fake: a control block in shared memory that this test reads and writes as the main side does,
 * and a flat batch's `post` that collects what would go on the wire.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ItemSpan } from '../../src/executor/contract.js';
import { reviveError } from '../../src/wire/error.js';
import { unpackValues } from '../../src/wire/flat-pack.js';
import {
  type BatchRequest,
  type BatchResponse,
  ControlBlock,
  type FlatValues,
} from '../../src/wire/messages.js';
import type { WorkSpec } from '../../src/wire/work.js';
import { FlatGate } from '../../src/worker/flat.js';
import { Runner, type RunnerHost } from '../../src/worker/runner.js';

const inline = (fn: (...args: never[]) => unknown): WorkSpec => ({
  kind: 'inline',
  source: fn.toString(),
});

let nextId = 0;

/** A request as the executor makes one; `overrides` as a test needs. */
function request(
  work: WorkSpec,
  inputs: readonly unknown[],
  overrides: Partial<BatchRequest> = {},
): BatchRequest {
  return {
    id: nextId++,
    work,
    spans: undefined,
    inputs,
    setup: undefined,
    maxItems: 0,
    teardown: undefined,
    maxHeapBytes: 0,
    control: undefined,
    timed: false,
    jsonResults: false,
    ...overrides,
  };
}

const THREAD: RunnerHost = { workerId: 7, sharedControl: undefined, sharesMemory: true };
const CHILD: RunnerHost = { workerId: 4242, sharedControl: undefined, sharesMemory: false };

/** The results of a response, as the main side reads them (JSON text or values). */
function valuesOf(response: BatchResponse): unknown[] {
  const values = response.json === undefined ? response.values : JSON.parse(response.json);
  return Array.from(values as ArrayLike<unknown>).slice(0, response.count);
}

describe('Runner: batches', () => {
  test('runs the items in order and answers each result, with the worker id', async () => {
    const runner = new Runner(THREAD);
    const { response } = await runner.runBatch(
      request(
        inline((s: string) => s.toUpperCase()),
        ['a', 'b', 'c'],
      ),
    );
    assert.deepEqual(valuesOf(response), ['A', 'B', 'C']);
    assert.equal(response.count, 3);
    assert.equal(response.failures, null);
    assert.equal(response.workerId, 7);
    assert.equal(response.retire, false);
    assert.equal(response.ms >= 0, true, 'ms from 0 up');
  });

  test('an item that returns a promise is awaited, and the items after it run', async () => {
    const runner = new Runner(THREAD);
    const { response } = await runner.runBatch(
      request(
        inline((n: number) => (n % 2 === 0 ? Promise.resolve(n * 10) : n)),
        [0, 1, 2, 3],
      ),
    );
    assert.deepEqual(valuesOf(response), [0, 1, 20, 3]);
    assert.equal(response.count, 4);
  });

  test('numbers come back packed, their buffer moved (thread) or copied (child process)', async () => {
    const inputs = Array.from({ length: 32 }, (_, i) => i + 0.25);
    const work = inline((n: number) => n * 2);
    const thread = await new Runner(THREAD).runBatch(request(work, inputs));
    const packed = thread.response.values;
    assert.equal(packed instanceof Float64Array, true, 'packed in a Float64Array');
    assert.deepEqual(
      Array.from(packed as Float64Array),
      inputs.map((n) => n * 2),
    );
    assert.deepEqual(thread.transferList, [(packed as Float64Array).buffer]);
    const child = await new Runner(CHILD).runBatch(request(work, inputs));
    assert.equal(child.response.values instanceof Float64Array, true, 'packed in a child too');
    assert.equal(child.transferList, undefined);
  });

  test('after `maxItems` items in this worker, the rest do not run and it asks to retire', async () => {
    const runner = new Runner(THREAD);
    const work = inline((n: number) => n + 1);
    const first = await runner.runBatch(request(work, [1, 2], { maxItems: 3 }));
    assert.equal(first.response.count, 2);
    assert.equal(first.response.retire, false);
    // The count is the worker's, across its batches.
    const second = await runner.runBatch(request(work, [3, 4, 5], { maxItems: 3 }));
    assert.equal(second.response.count, 1);
    assert.deepEqual(valuesOf(second.response), [4]);
    assert.equal(second.response.retire, true);
  });
});

describe('Runner: the task context and spans', () => {
  test('index and attempt come from the batch spans; state and workerId from the worker', async () => {
    const runner = new Runner(THREAD);
    runner.context.state = 'ready';
    const spans: ItemSpan[] = [
      { index: 10, count: 2, attempt: 1 },
      { index: 40, count: 1, attempt: 3 },
    ];
    const { response } = await runner.runBatch(
      request(
        inline(
          (_: unknown, c: { index: number; attempt: number; workerId: number; state: unknown }) =>
            [c.index, c.attempt, c.workerId, c.state].join(':'),
        ),
        ['x', 'y', 'z'],
        { spans },
      ),
    );
    assert.deepEqual(valuesOf(response), ['10:1:7:ready', '11:1:7:ready', '40:3:7:ready']);
  });

  test('a batch with no spans numbers its items from 0, first attempt', async () => {
    const runner = new Runner(THREAD);
    const { response } = await runner.runBatch(
      request(
        inline((_: unknown, c: { index: number; attempt: number }) => `${c.index}/${c.attempt}`),
        ['a', 'b'],
      ),
    );
    assert.deepEqual(valuesOf(response), ['0/1', '1/1']);
  });

  test('the control row says which thread took the batch, which item runs, and that it is done', async () => {
    const control = ControlBlock.create(4);
    const runner = new Runner({ ...THREAD, sharedControl: control });
    const seen: number[] = [];
    // The task reads its own row as the main side would while it runs.
    (globalThis as { rowSeen?: (position: number) => void }).rowSeen = (position) =>
      seen.push(position);
    const { response } = await runner.runBatch(
      request(
        inline((n: number) => {
          (globalThis as unknown as { rowSeen: (n: number) => void }).rowSeen(n);
          return n;
        }),
        [0, 1, 2],
        { control: { row: 2 }, timed: true },
      ),
    );
    delete (globalThis as { rowSeen?: unknown }).rowSeen;
    assert.deepEqual(valuesOf(response), [0, 1, 2]);
    assert.equal(control.thread(2), 7);
    assert.equal(control.startedAt(2) > 0, true, 'its start recorded');
    // Done: the row points past the last item.
    assert.equal(control.position(2), 3);
    assert.deepEqual(seen, [0, 1, 2]);
  });
});

describe('Runner: setup and teardown', () => {
  test("the setup runs once in a worker, before its first item; its result is the tasks' state", async () => {
    const g = globalThis as { setups?: number };
    g.setups = 0;
    try {
      const setup = inline(() => {
        (globalThis as unknown as { setups: number }).setups++;
        return { base: 40 };
      });
      const work = inline((n: number, c: { state: { base: number } }) => c.state.base + n);
      const runner = new Runner(THREAD);
      const first = await runner.runBatch(request(work, [1, 2], { setup }));
      const second = await runner.runBatch(request(work, [3], { setup }));
      assert.deepEqual(valuesOf(first.response), [41, 42]);
      assert.deepEqual(valuesOf(second.response), [43]);
      assert.equal(g.setups, 1);
      // Another worker runs it again, for itself.
      await new Runner(THREAD).runBatch(request(work, [0], { setup }));
      assert.equal(g.setups, 2);
    } finally {
      delete g.setups;
    }
  });

  test('a failed setup fails every item for good (fatal: setup), and the worker retires', async () => {
    const runner = new Runner(THREAD);
    const setup = inline(() => {
      throw new Error('no database');
    });
    const { response } = await runner.runBatch(
      request(
        inline((n: number) => n),
        [1, 2],
        { setup },
      ),
    );
    assert.equal(response.retire, true);
    assert.equal(response.failures?.length, 2);
    for (const wire of response.failures ?? []) {
      assert.equal(wire?.fatal, 'setup');
      assert.equal(wire?.name, 'SetupError');
      assert.match(wire?.message ?? '', /no database/);
    }
  });

  test('a worker that retires runs its teardown, with its state, before it answers', async () => {
    const runner = new Runner(THREAD);
    const setup = inline(() => ({ closed: false }));
    const teardown = inline((state: { closed: boolean }) => {
      state.closed = true;
      throw new Error('flush failed');
    });
    const work = inline((n: number) => n);
    const { response } = await runner.runBatch(
      request(work, [1, 2, 3], { setup, teardown, maxItems: 2 }),
    );
    assert.equal(response.count, 2);
    assert.equal(response.retire, true);
    assert.equal(response.teardownError?.name, 'TeardownError');
    assert.match(response.teardownError?.message ?? '', /worker 7: Error: flush failed/);
    assert.deepEqual(runner.context.state, { closed: true });
    // Once a worker: asked again (the main side stopping it), it does not run twice.
    (runner.context.state as { closed: boolean }).closed = false;
    assert.equal(runner.lifecycle.hasTeardown(), true);
    assert.equal((await runner.lifecycle.teardownOnce())?.name, 'TeardownError');
    assert.deepEqual(runner.context.state, { closed: false });
  });
});

describe('Runner: errors and their wire form', () => {
  test('a thrown error fails its item alone, with its name, message, props and cause', async () => {
    const runner = new Runner(THREAD);
    const { response } = await runner.runBatch(
      request(
        inline((n: number) => {
          if (n !== 1) return n;
          const error = new RangeError('one is out', { cause: new Error('deeper') });
          Object.assign(error, { code: 'E_ONE' });
          throw error;
        }),
        [0, 1, 2],
      ),
    );
    assert.equal(response.count, 3);
    assert.deepEqual(valuesOf(response)[0], 0);
    assert.deepEqual(valuesOf(response)[2], 2);
    const wire = response.failures?.[1];
    assert.notEqual(wire, undefined);
    if (wire === undefined) return;
    assert.equal(response.failures?.[0], undefined);
    assert.equal(wire.name, 'RangeError');
    assert.equal(wire.message, 'one is out');
    assert.equal(wire.props.code, 'E_ONE');
    assert.equal(wire.nonError, false);
    assert.equal(wire.fatal, undefined);
    assert.equal(wire.cause?.message, 'deeper');
    // The main side rebuilds it as an error of the same name, with its props and cause.
    const revived = reviveError(wire);
    assert.equal(revived instanceof Error, true, 'revived as an Error');
    assert.equal(revived.name, 'RangeError');
    assert.equal((revived as Error & { code?: string }).code, 'E_ONE');
    assert.equal((revived.cause as Error).message, 'deeper');
  });

  test('a thrown non-error and a rejected promise fail their items', async () => {
    const runner = new Runner(THREAD);
    const { response } = await runner.runBatch(
      request(
        inline((n: number) => {
          if (n === 0) throw 'plain text';
          return Promise.reject(new TypeError('async no'));
        }),
        [0, 1],
      ),
    );
    assert.equal(response.failures?.[0]?.nonError, true);
    assert.match(response.failures?.[0]?.message ?? '', /plain text/);
    assert.equal(response.failures?.[1]?.name, 'TypeError');
    assert.equal(response.failures?.[1]?.message, 'async no');
  });

  test('work that does not load fails every item for good (fatal: load)', async () => {
    const runner = new Runner(THREAD);
    const { response } = await runner.runBatch(
      request({ kind: 'module', url: 'file:///nowhere/missing-task.mjs', name: 'f' }, [1, 2]),
    );
    assert.equal(response.count, 2);
    assert.equal(response.failures?.length, 2);
    for (const wire of response.failures ?? []) assert.equal(wire?.fatal, 'load');
  });

  test('a result that cannot be cloned fails its item for good (fatal: clone)', async () => {
    const runner = new Runner(THREAD);
    const { response } = await runner.runBatch(
      request(
        inline((n: number) => (n === 1 ? { f: () => n } : { n })),
        [0, 1],
      ),
    );
    assert.deepEqual(valuesOf(response)[0], { n: 0 });
    assert.equal(response.failures?.[1]?.fatal, 'clone');
  });

  test('a starmap item that is not an array fails for good (fatal: arguments)', async () => {
    const runner = new Runner(THREAD);
    const work: WorkSpec = { ...inline((a: number, b: number) => a + b), spread: true };
    const { response } = await runner.runBatch(request(work, [[1, 2], 5]));
    assert.equal(valuesOf(response)[0], 3);
    assert.equal(response.failures?.[1]?.fatal, 'arguments');
    assert.match(response.failures?.[1]?.message ?? '', /array of arguments/);
  });

  test('a reply that fails to copy: the items at fault fail alone, the others stand', () => {
    const runner = new Runner(THREAD);
    const response: BatchResponse = {
      values: [1, 'bad', 3],
      json: undefined,
      failures: null,
      count: 3,
      ms: 1,
      retire: false,
      workerId: 7,
    };
    const repaired = runner.sendable(response, (value) => {
      if (value === 'bad' || (Array.isArray(value) && value.includes('bad'))) {
        throw new Error('cannot copy');
      }
      if (value !== null && typeof value === 'object' && 'values' in value) {
        const { values } = value as { values: unknown[] };
        if (values.includes('bad')) throw new Error('cannot copy');
      }
    });
    assert.deepEqual(repaired.values, [1, undefined, 3]);
    assert.equal(repaired.failures?.[1]?.fatal, 'clone');
    assert.match(repaired.failures?.[1]?.message ?? '', /cannot copy/);
    assert.equal(repaired.failures?.[0], undefined);
  });
});

describe('Runner: abort', () => {
  test("an abort fires the running item's signal, and the items after it do not run", async () => {
    const runner = new Runner(THREAD);
    const req = request(
      inline(
        (n: number, c: { signal: AbortSignal }) =>
          new Promise((resolve, reject) => {
            if (n > 0) {
              resolve(n);
              return;
            }
            (globalThis as unknown as { itemStarted: () => void }).itemStarted();
            c.signal.addEventListener('abort', () => reject(c.signal.reason));
          }),
      ),
      [0, 1, 2],
    );
    const started = new Promise<void>((resolve) => {
      (globalThis as { itemStarted?: () => void }).itemStarted = resolve;
    });
    const ran = runner.runBatch(req);
    await started;
    runner.context.abort(req.id, 'timeout');
    const { response } = await ran;
    delete (globalThis as { itemStarted?: unknown }).itemStarted;
    assert.equal(response.count, 1);
    assert.equal(response.failures?.[0]?.name, 'TimeoutError');
  });

  test('an abort that comes before its batch begins: nothing of the batch runs', async () => {
    const runner = new Runner(THREAD);
    const req = request(
      inline((n: number) => n),
      [1, 2, 3],
    );
    runner.context.abort(req.id, 'cancel');
    const { response } = await runner.runBatch(req);
    assert.equal(response.count, 0);
  });

  test('a cancelled control row: the batch is skipped before its first item', async () => {
    const control = ControlBlock.create(1);
    const runner = new Runner({ ...THREAD, sharedControl: control });
    control.cancel(0);
    const { response } = await runner.runBatch(
      request(
        inline((n: number) => n),
        [1, 2, 3],
        { control: { row: 0 } },
      ),
    );
    assert.equal(response.count, 0);
  });
});

describe('Runner: exact JSON results', () => {
  test('JSON-exact results come back as JSON text that parses to them', async () => {
    const runner = new Runner(THREAD);
    const records = [
      { id: 1, name: 'a', tags: ['x'] },
      { id: 2, name: 'b', tags: [] },
    ];
    const { response } = await runner.runBatch(
      request(
        inline((r: { id: number }) => ({ ...r, id: r.id * 2 })),
        records,
        {
          jsonResults: true,
        },
      ),
    );
    assert.equal(typeof response.json, 'string');
    assert.deepEqual(response.values, []);
    assert.deepEqual(JSON.parse(response.json!), [
      { id: 2, name: 'a', tags: ['x'] },
      { id: 4, name: 'b', tags: [] },
    ]);
  });

  test('a batch with one result that JSON would change comes back by clone', async () => {
    const runner = new Runner(THREAD);
    const { response } = await runner.runBatch(
      request(
        inline((n: number) => (n === 1 ? { at: new Date(0) } : { n })),
        [0, 1, 2],
        {
          jsonResults: true,
        },
      ),
    );
    assert.equal(response.json, undefined);
    assert.equal((valuesOf(response)[1] as { at: unknown }).at instanceof Date, true, 'a Date');
  });

  test('without jsonResults, results come back as values', async () => {
    const runner = new Runner(THREAD);
    const { response } = await runner.runBatch(
      request(
        inline((n: number) => ({ n })),
        [1],
      ),
    );
    assert.equal(response.json, undefined);
    assert.deepEqual(valuesOf(response), [{ n: 1 }]);
  });
});

describe('Runner: transfer', () => {
  test("a result's move() list joins the batch's transfer list on a thread, not in a child", async () => {
    const work = inline(async (n: number) => {
      const { move } = await import((globalThis as unknown as { moveModule: string }).moveModule);
      const bytes = new Uint8Array(n);
      return move({ bytes }, [bytes.buffer]);
    });
    (globalThis as { moveModule?: string }).moveModule = new URL(
      '../../src/wire/move.ts',
      import.meta.url,
    ).href;
    try {
      const thread = await new Runner(THREAD).runBatch(request(work, [4, 8]));
      assert.equal(thread.response.failures, null);
      assert.equal(thread.transferList?.length, 2);
      const sizes = valuesOf(thread.response).map((v) => (v as { bytes: Uint8Array }).bytes.length);
      assert.deepEqual(sizes, [4, 8]);
      assert.deepEqual(
        thread.transferList?.map((b) => (b as ArrayBuffer).byteLength),
        [4, 8],
      );
      const child = await new Runner(CHILD).runBatch(request(work, [4]));
      assert.equal(child.response.failures, null);
      assert.equal(child.transferList, undefined);
    } finally {
      delete (globalThis as { moveModule?: unknown }).moveModule;
    }
  });
});

describe('Runner: flat batches', () => {
  test("an item's values go out under credit as they come; the reply counts the items", async () => {
    const runner = new Runner(THREAD);
    const sent: FlatValues[] = [];
    const gate = new FlatGate(99, 16);
    const { response } = await runner.runBatch(
      request(
        inline(function* (n: number) {
          for (let i = 0; i < n; i++) yield i;
        }),
        [2, 3],
        { flat: { key: 99, highWaterMark: 16 } },
      ),
      { gate, post: (message) => sent.push(message) },
    );
    assert.equal(response.count, 2);
    assert.equal(response.failures, null);
    const byItem = new Map<number, unknown[]>();
    // An item that ended may ride in the next message's `before`; values may come packed.
    const parts = sent.flatMap((message) => {
      assert.equal(message.flatKey, 99);
      return [...(message.before ?? []), message];
    });
    for (const part of parts) {
      const values = Array.from(unpackValues(part.values));
      byItem.set(part.position, [...(byItem.get(part.position) ?? []), ...values]);
    }
    assert.deepEqual(byItem.get(0), [0, 1]);
    assert.deepEqual(byItem.get(1), [0, 1, 2]);
    // Each item's last part says it ended.
    assert.equal(parts.filter((m) => m.end).length, 2);
  });
});

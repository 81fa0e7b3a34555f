/**
 * The Dispatcher (src/executor/dispatcher.ts) with a hand-driven fake executor and fake streams:
 * fair turns between streams within the executor's capacity, the counts of `pool.stats()`, what
 * `close()` waits for, `destroy()`, an executor that breaks its contract by throwing, and the
 * hold that keeps the process alive while a batch is out (in a child process, where an empty event
 * loop really ends it).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { realClock } from '../../src/engine/clock.js';
import { Engine } from '../../src/engine/engine.js';
import { retryPolicy } from '../../src/engine/retry.js';
import { AbortError, type TaskError } from '../../src/errors.js';
import type {
  BatchOutcome,
  Executor,
  ExecutorBatch,
  ExecutorTraits,
  RunningBatch,
} from '../../src/executor/contract.js';
import { type DispatchClient, Dispatcher } from '../../src/executor/dispatcher.js';

const WORK = { kind: 'inline', source: '(x) => x' } as const;

/** An executor whose batches end only when the test says so. */
class ManualExecutor implements Executor {
  readonly traits: ExecutorTraits = {
    targetBatchMs: 8,
    enforcesTimeouts: false,
    knowsPosition: true,
  };
  /** Batches out, oldest first, with how to end them. */
  readonly out: { batch: ExecutorBatch; report: (outcome: BatchOutcome) => void }[] = [];
  readonly aborted: string[] = [];
  /** The stream of every batch run, in order. */
  readonly log: string[] = [];
  slots: number;
  closed = 0;
  destroyed = 0;
  /** Resolves `close()`; a test may hold it. */
  closeGate: Promise<void> = Promise.resolve();
  private listener: (() => void) | undefined;

  constructor(readonly size = 2) {
    this.slots = size;
  }

  capacity(): number {
    return this.slots;
  }

  onCapacity(listener: () => void): void {
    this.listener = listener;
  }

  /** Capacity grew for another reason than a batch ending. */
  grow(slots: number): void {
    this.slots = slots;
    this.listener?.();
  }

  run(batch: ExecutorBatch, report: (outcome: BatchOutcome) => void): RunningBatch {
    this.out.push({ batch, report });
    this.log.push(batch.stream!);
    return { abort: (reason) => this.aborted.push(`${batch.stream}:${reason}`) };
  }

  /** Ends the oldest batch out (or the one of `stream`) as done, every item succeeded. */
  finish(stream?: string): void {
    const at = stream === undefined ? 0 : this.out.findIndex((e) => e.batch.stream === stream);
    const [{ batch, report }] = this.out.splice(at, 1) as [(typeof this.out)[number]];
    const count = batch.inputs.length;
    report({ type: 'done', values: batch.inputs, failures: null, count, ms: 2 * count });
  }

  async close(): Promise<void> {
    this.closed++;
    await this.closeGate;
  }

  async destroy(): Promise<void> {
    this.destroyed++;
  }
}

/** A stream as the Dispatcher sees it: `items` waiting, one item a batch. */
class FakeStream implements DispatchClient {
  readonly outcomes: BatchOutcome[] = [];
  killed: Error | undefined;
  readonly stream: string;
  readonly detach: () => void;

  constructor(
    private readonly dispatcher: Dispatcher,
    public items: number,
  ) {
    this.stream = dispatcher.streamId();
    this.detach = dispatcher.attach(this);
  }

  queued(): number {
    return this.items;
  }

  dispatch(): boolean {
    if (this.items === 0) return false;
    this.items--;
    const batch: ExecutorBatch = {
      work: WORK,
      inputs: [this.items],
      spans: [],
      transferList: undefined,
      timeout: undefined,
      expectedMs: undefined,
      stream: this.stream,
    };
    this.dispatcher.submit(batch, (outcome) => this.outcomes.push(outcome));
    return this.items > 0;
  }

  kill(error: Error): void {
    this.killed = error;
  }
}

/** Every Dispatcher made here: destroyed at the end, so no batch left out holds the process. */
const dispatchers: Dispatcher[] = [];
after(() => Promise.all(dispatchers.map((dispatcher) => dispatcher.destroy())));

function dispatcherOf(executor: Executor): Dispatcher {
  const dispatcher = new Dispatcher(executor);
  dispatchers.push(dispatcher);
  return dispatcher;
}

/** Settles on the next turns of the event loop. */
const tick = () => new Promise((resolve) => setImmediate(resolve));

/** The node processes the tests started, stopped by pid in `after` if still running. */
const children: ChildProcess[] = [];

/** Runs an ES module `script` in a node process of its own (with tsx); its stdout and exit code. */
async function runScript(script: string): Promise<{ out: string; code: number | null }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (chunk) => {
    out += chunk;
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { out, code };
}

describe('Dispatcher: turns', () => {
  it('gives streams with work one batch a turn, in a ring, within capacity', () => {
    const executor = new ManualExecutor(2);
    const dispatcher = dispatcherOf(executor);
    const a = new FakeStream(dispatcher, 4);
    const b = new FakeStream(dispatcher, 4);
    dispatcher.schedule(a);
    // A alone takes every free slot while B has nothing to send yet.
    assert.deepEqual(executor.log, [a.stream, a.stream]);
    dispatcher.schedule(b);
    assert.equal(executor.out.length, 2, 'no batch beyond capacity');
    while (executor.out.length > 0) {
      executor.finish();
      assert.ok(executor.out.length <= 2, 'no batch beyond capacity');
    }
    // Each freed slot went to the next stream in the ring (A waited first): they take turns
    // while both have work.
    assert.deepEqual(executor.log, [
      a.stream,
      a.stream,
      a.stream,
      b.stream,
      a.stream,
      b.stream,
      b.stream,
      b.stream,
    ]);
    assert.equal(a.outcomes.length + b.outcomes.length, 8);
  });

  it('a stream with much to send cannot starve one that comes later', () => {
    const executor = new ManualExecutor(1);
    const dispatcher = dispatcherOf(executor);
    const big = new FakeStream(dispatcher, 1000);
    dispatcher.schedule(big);
    executor.finish();
    const small = new FakeStream(dispatcher, 2);
    dispatcher.schedule(small);
    for (let i = 0; i < 4; i++) executor.finish();
    assert.deepEqual(executor.log.slice(2), [big.stream, small.stream, big.stream, small.stream]);
  });

  it('capacity that grows (onCapacity) gives turns at once', () => {
    const executor = new ManualExecutor(1);
    const dispatcher = dispatcherOf(executor);
    const a = new FakeStream(dispatcher, 5);
    dispatcher.schedule(a);
    assert.equal(executor.out.length, 1);
    executor.grow(3);
    assert.equal(executor.out.length, 3);
    assert.equal(dispatcher.capacity(), 3);
  });

  it('counts what ran: completed items, run times, failed items, what is queued', () => {
    const executor = new ManualExecutor(1);
    const dispatcher = dispatcherOf(executor);
    const a = new FakeStream(dispatcher, 3);
    dispatcher.schedule(a);
    assert.equal(dispatcher.queued(), 2);
    assert.equal(dispatcher.running(), 1);
    executor.finish();
    const [{ batch, report }] = executor.out.splice(0, 1) as [(typeof executor.out)[number]];
    const failure = { error: new Error('x'), kind: 'threw', retryable: true } as const;
    report({ type: 'done', values: [], failures: [failure], count: 1, ms: 4 });
    assert.equal(batch.inputs.length, 1);
    assert.equal(dispatcher.completed, 1);
    assert.equal(dispatcher.runMs, 6);
    assert.deepEqual(
      [dispatcher.runTimes.percentiles().count, dispatcher.runTimes.percentiles().max],
      [2, 4],
    );
    assert.equal(dispatcher.queued(), 0);
    assert.match(a.stream, /^s\d+$/);
    assert.notEqual(dispatcher.streamId(), a.stream);
  });
});

describe('Dispatcher: close and destroy', () => {
  it('close() while a batch is out: refuses new streams, waits for the streams, then closes the executor', async () => {
    const executor = new ManualExecutor(1);
    const dispatcher = dispatcherOf(executor);
    const a = new FakeStream(dispatcher, 1);
    dispatcher.schedule(a);
    let closed = false;
    const closing = dispatcher.close().then(() => {
      closed = true;
    });
    assert.throws(() => new FakeStream(dispatcher, 1), /The pool is closed: it takes no new work/);
    assert.ok(dispatcher.closed instanceof Error);
    await tick();
    assert.equal(closed, false, 'a stream is attached and its batch out');
    executor.finish();
    a.detach();
    await tick();
    assert.equal(executor.closed, 1);
    await closing;
    assert.equal(closed, true);
    // A second close is the same close.
    await dispatcher.close();
    assert.equal(executor.closed, 1);
  });

  it('close() waits for the executor to close', async () => {
    const executor = new ManualExecutor(1);
    let open!: () => void;
    executor.closeGate = new Promise((resolve) => {
      open = resolve;
    });
    const dispatcher = dispatcherOf(executor);
    let closed = false;
    const closing = dispatcher.close().then(() => {
      closed = true;
    });
    await tick();
    assert.equal(executor.closed, 1);
    assert.equal(closed, false);
    open();
    await closing;
    assert.equal(closed, true);
  });

  it('destroy() kills every stream with an AbortError and stops the executor', async () => {
    const executor = new ManualExecutor(1);
    const dispatcher = dispatcherOf(executor);
    const a = new FakeStream(dispatcher, 3);
    const b = new FakeStream(dispatcher, 3);
    dispatcher.schedule(a);
    dispatcher.schedule(b);
    await dispatcher.destroy();
    for (const stream of [a, b]) {
      assert.ok(stream.killed instanceof AbortError);
      assert.equal(stream.killed.message, 'The pool was destroyed');
    }
    assert.equal(executor.destroyed, 1);
    assert.throws(() => new FakeStream(dispatcher, 1), AbortError);
    assert.equal(dispatcher.queued(), 0, 'the streams are gone');
  });
});

describe('Dispatcher: an executor that throws', () => {
  it('a run() that throws fails that batch (asynchronously, as unsendable), not the caller; the next batch goes', async () => {
    const executor = new ManualExecutor(1);
    const broken = new Error('the executor broke');
    let throwNext = true;
    const run = executor.run.bind(executor);
    executor.run = (batch, report) => {
      if (throwNext) {
        throwNext = false;
        throw broken;
      }
      return run(batch, report);
    };
    const dispatcher = dispatcherOf(executor);
    const a = new FakeStream(dispatcher, 2);
    assert.doesNotThrow(() => dispatcher.schedule(a));
    assert.equal(a.outcomes.length, 0, 'reported asynchronously, as the contract wants');
    await tick();
    const [first] = a.outcomes;
    assert.equal(first?.type, 'unsendable');
    assert.equal(first.type === 'unsendable' && first.blamed?.get(0), broken);
    // The slot was given back: the next batch went out.
    assert.equal(executor.out.length, 1);
    executor.finish();
    assert.equal(a.outcomes[1]?.type, 'done');
    a.detach();
    await dispatcher.close();
    assert.equal(executor.closed, 1, 'no batch counted out for ever: close() ends');
  });

  it('under an engine: the items of that batch fail with what run() threw, not retried; the rest run', async () => {
    const executor = new ManualExecutor(1);
    const broken = new Error('the executor broke');
    const run = executor.run.bind(executor);
    let calls = 0;
    executor.run = (batch, report) => {
      if (calls++ === 0) throw broken;
      return run(batch, report);
    };
    const dispatcher = dispatcherOf(executor);
    const values: number[] = [];
    const failures: TaskError<number>[] = [];
    let completed = false;
    const engine = new Engine<number, number>(
      {
        work: WORK,
        concurrency: 4,
        ordered: true,
        batchSize: 1,
        timeout: undefined,
        retry: retryPolicy(3),
        transfer: undefined,
      },
      dispatcher,
      realClock,
      {
        value: (value) => values.push(value),
        failure: (error) => failures.push(error),
        complete: () => {
          completed = true;
        },
        error: (error) => assert.fail(error as Error),
      },
    );
    engine.push(1);
    engine.push(2);
    engine.end();
    await tick();
    assert.equal(failures.length, 1);
    assert.equal(failures[0]!.index, 0);
    assert.equal(failures[0]!.cause, broken);
    assert.equal(failures[0]!.attempts, 1);
    executor.finish();
    assert.deepEqual(values, [2]);
    assert.equal(completed, true);
  });
});

describe('Dispatcher: the process hold', () => {
  after(() => {
    for (const child of children) if (child.exitCode === null) process.kill(child.pid!);
  });

  it('keeps the process alive while a batch is out and while the executor closes; lets it exit after', async () => {
    const dispatcherUrl = new URL('../../src/executor/dispatcher.ts', import.meta.url).href;
    // Every timer of this executor is unref'd: only the Dispatcher's hold keeps the process.
    const script = `
      import { Dispatcher } from ${JSON.stringify(dispatcherUrl)};
      const later = (ms, fn) => setTimeout(fn, ms).unref();
      const executor = {
        size: 1,
        traits: { targetBatchMs: 8, enforcesTimeouts: false, knowsPosition: true },
        capacity: () => 1,
        run(batch, report) {
          later(100, () => report({ type: 'done', values: batch.inputs, failures: null, count: 1, ms: 1 }));
          return { abort() {} };
        },
        close: () => new Promise((resolve) => later(100, () => { console.log('executor closed'); resolve(); })),
        destroy: async () => {},
      };
      const dispatcher = new Dispatcher(executor);
      dispatcher.submit({ work: { kind: 'inline', source: '(x) => x' }, inputs: [1], spans: [] }, (outcome) => {
        console.log('reported', outcome.type);
        dispatcher.close().then(() => console.log('close resolved'));
      });
    `;
    const { out, code } = await runScript(script);
    assert.equal(out, 'reported done\nexecutor closed\nclose resolved\n');
    assert.equal(code, 0);
  });
  it('close() resolves at beforeExit while streams wait for consumers that await it; the executor closes after them', async () => {
    const dispatcherUrl = new URL('../../src/executor/dispatcher.ts', import.meta.url).href;
    // A stream stays attached with nothing out (its consumer awaits close() before taking the
    // rest): the event loop empties, and close() must resolve then, not let the process end.
    const script = `
      import { Dispatcher } from ${JSON.stringify(dispatcherUrl)};
      const executor = {
        size: 1,
        traits: { targetBatchMs: 8, enforcesTimeouts: false, knowsPosition: true },
        capacity: () => 1,
        run() { throw new Error('no batch is sent here'); },
        close: async () => console.log('executor closed'),
        destroy: async () => {},
      };
      const dispatcher = new Dispatcher(executor);
      const detach = dispatcher.attach({ queued: () => 0, dispatch: () => false, kill() {} });
      await dispatcher.close();
      console.log('close resolved');
      detach();
    `;
    const { out, code } = await runScript(script);
    assert.equal(out, 'close resolved\nexecutor closed\n');
    assert.equal(code, 0);
  });
});

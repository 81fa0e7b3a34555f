/**
 * An in-thread executor for unit tests: it runs the work function on the main thread, one item
 * after the other within a batch, each taking `duration(input)` ms of the given clock (virtual
 * time under `TestScheduler.run`). A work function that throws an error named `FakeCrash` crashes
 * its "worker". It records what happened so tests can check the window, the
 * batches and that aborted work really stopped.
 *
 * Flat batches (`parallelFlatMap`): the work returns an array or an iterable, whose values are
 * pulled one every `duration(input)` ms while the item has credit, each reported at once through
 * the values listener; a stop calls the iterator's `return()` (recorded in `returned`).
 */
import type { Clock } from '../../src/engine/clock.js';
import type {
  BatchOutcome,
  Executor,
  ExecutorBatch,
  ExecutorTraits,
  ItemFailure,
  RunningBatch,
  ValuesListener,
  WorkSpec,
} from '../../src/executor/contract.js';
import { Dispatcher } from '../../src/executor/dispatcher.js';
import { Pool } from '../../src/pool/pool.js';

export interface FakeOptions {
  readonly clock: Clock;
  readonly size?: number;
  /** ms each item takes. @default 1 */
  readonly duration?: (input: any) => number;
  /** Whether `Attempt.current()` knows which item runs (thread runtime does). @default true */
  readonly knowsPosition?: boolean;
}

export class FakeExecutor implements Executor {
  readonly size: number;
  readonly traits: ExecutorTraits;
  /** Every batch launched, with its inputs. */
  readonly batches: unknown[][] = [];
  /** Inputs whose run started, in order (each attempt). */
  readonly started: unknown[] = [];
  /** Each attempt's run: its input, when it started and when it ended (stopped or not). */
  readonly spans: { input: unknown; start: number; end: number | undefined }[] = [];
  /** Inputs whose run was stopped by abort() before it ended. */
  readonly stopped: unknown[] = [];
  /** Flat items whose iterator's `return()` was called by a stop, in order. */
  readonly returned: unknown[] = [];
  /** Flat items: values pulled so far, by input (over every attempt). */
  readonly pulled = new Map<unknown, number>();
  /** The most batches running at once. */
  maxBusy = 0;
  /** Batches running now. */
  running = 0;
  private readonly clock: Clock;
  private readonly duration: (input: any) => number;
  private readonly knowsPosition: boolean;

  constructor(options: FakeOptions) {
    this.clock = options.clock;
    this.size = options.size ?? 2;
    this.knowsPosition = options.knowsPosition ?? true;
    this.traits = {
      targetBatchMs: 8,
      enforcesTimeouts: false,
      knowsPosition: this.knowsPosition,
      streams: true,
    };
    this.duration = options.duration ?? (() => 1);
  }

  capacity(): number {
    return this.size;
  }

  async close(): Promise<void> {}

  async destroy(): Promise<void> {}

  run(
    batch: ExecutorBatch,
    report: (outcome: BatchOutcome) => void,
    listener?: ValuesListener,
  ): RunningBatch {
    if (batch.flat && listener) return this.runFlat(batch, report, listener);
    const inputs = batch.inputs as unknown[];
    this.batches.push(inputs);
    this.running++;
    this.maxBusy = Math.max(this.maxBusy, this.running);
    const fn = compile(batch.work);
    const values: unknown[] = new Array(inputs.length);
    let failures: (ItemFailure | undefined)[] | null = null;
    let position = -1;
    let startedAt = 0;
    let cancel: (() => void) | undefined;
    let current: { end: number | undefined } | undefined;
    let finished = false;
    const batchStart = this.clock.now();
    const finish = (outcome: BatchOutcome) => {
      if (finished) return;
      finished = true;
      this.running--;
      report(outcome);
    };
    const step = () => {
      position++;
      if (position === inputs.length) {
        finish({
          type: 'done',
          values,
          failures,
          count: inputs.length,
          ms: this.clock.now() - batchStart,
        });
        return;
      }
      const input = inputs[position];
      startedAt = this.clock.now();
      this.started.push(input);
      const span = { input, start: startedAt, end: undefined as number | undefined };
      this.spans.push(span);
      current = span;
      cancel = this.clock.setTimeout(() => {
        cancel = undefined;
        span.end = this.clock.now();
        try {
          values[position] = fn(input);
        } catch (error) {
          if ((error as Error).name === 'FakeCrash') {
            finish({
              type: 'crashed',
              error: error as Error,
              position: this.knowsPosition ? position : undefined,
            });
            return;
          }
          failures ??= new Array(inputs.length);
          failures[position] = { error: error as Error, kind: 'threw', retryable: true };
        }
        step();
      }, this.duration(input));
    };
    cancel = this.clock.setTimeout(step, 0);
    return {
      current: () =>
        position >= 0 ? { position, elapsedMs: this.clock.now() - startedAt } : undefined,
      abort: () => {
        if (finished) return;
        cancel?.();
        if (position >= 0 && position < inputs.length) {
          this.stopped.push(inputs[position]);
          if (current && current.end === undefined) current.end = this.clock.now();
        }
        cancel = this.clock.setTimeout(() => finish({ type: 'aborted' }), 0);
      },
    };
  }

  /**
   * A flat batch: its items one after the other, each giving a value every `duration(input)` ms
   * while it has credit, then its end.
   */
  private runFlat(
    batch: ExecutorBatch,
    report: (outcome: BatchOutcome) => void,
    values: ValuesListener,
  ): RunningBatch {
    const inputs = batch.inputs as unknown[];
    this.batches.push(inputs);
    this.running++;
    this.maxBusy = Math.max(this.maxBusy, this.running);
    const fn = compile(batch.work);
    let position = -1;
    let credit = 0;
    let iterator: Iterator<unknown> | undefined;
    let waiting = false;
    let finished = false;
    let cancel: (() => void) | undefined;
    let startedAt = -1;
    const start = this.clock.now();
    const finish = (outcome: BatchOutcome) => {
      if (finished) return;
      finished = true;
      cancel?.();
      this.running--;
      report(outcome);
    };
    const done = () =>
      finish({
        type: 'done',
        values: [],
        failures: null,
        count: inputs.length,
        ms: this.clock.now() - start,
      });
    /** The item at `position` failed: its end says so, and the next one starts. */
    const failed = (error: unknown) => {
      iterator = undefined;
      if ((error as Error).name === 'FakeCrash') {
        finish({ type: 'crashed', error: error as Error, position });
        return;
      }
      values(position, [], { failure: { error: error as Error, kind: 'threw', retryable: true } });
      nextItem();
    };
    const nextItem = () => {
      position++;
      if (position === inputs.length) {
        done();
        return;
      }
      const input = inputs[position];
      startedAt = this.clock.now();
      this.started.push(input);
      credit = batch.flat!.highWaterMark;
      try {
        iterator = (fn(input) as Iterable<unknown>)[Symbol.iterator]();
      } catch (error) {
        failed(error);
        return;
      }
      nextValue();
    };
    // Waits for a value's time, then pulls it (if there is credit; else waits for a grant).
    const nextValue = () => {
      if (credit <= 0) {
        waiting = true;
        return;
      }
      const input = inputs[position];
      cancel = this.clock.setTimeout(() => {
        cancel = undefined;
        let step: IteratorResult<unknown>;
        try {
          step = iterator!.next();
        } catch (error) {
          failed(error);
          return;
        }
        if (step.done) {
          iterator = undefined;
          values(position, [], {});
          nextItem();
          return;
        }
        this.pulled.set(input, (this.pulled.get(input) ?? 0) + 1);
        credit--;
        values(position, [step.value]);
        if (!finished) nextValue();
      }, this.duration(input));
    };
    cancel = this.clock.setTimeout(() => {
      cancel = undefined;
      nextItem();
    }, 0);
    return {
      current: () =>
        startedAt >= 0 && position < inputs.length
          ? { position, elapsedMs: this.clock.now() - startedAt }
          : undefined,
      abort: () => {
        if (finished) return;
        cancel?.();
        cancel = undefined;
        if (iterator) {
          const input = inputs[position];
          this.stopped.push(input);
          this.returned.push(input);
          iterator.return?.();
        }
        iterator = undefined;
        cancel = this.clock.setTimeout(() => finish({ type: 'aborted' }), 0);
      },
      grant: (at, count) => {
        if (finished || at !== position) return;
        credit += count;
        if (waiting && credit > 0) {
          waiting = false;
          nextValue();
        }
      },
    };
  }
}

const compiled = new Map<string, (input: unknown) => unknown>();

function compile(spec: WorkSpec): (input: unknown) => unknown {
  if (spec.kind !== 'inline' || spec.spread) {
    throw new Error('the fake executor runs inline functions only, without spread');
  }
  let fn = compiled.get(spec.source);
  if (!fn) {
    // `__name` is what tsx's esbuild calls to keep function names.
    fn = new Function('__name', `return (${spec.source});`)((f: unknown) => f) as (
      input: unknown,
    ) => unknown;
    compiled.set(spec.source, fn);
  }
  return fn;
}

/** A Pool whose items run on a fake executor. */
export function fakePool(options: FakeOptions): { pool: Pool; executor: FakeExecutor } {
  const executor = new FakeExecutor(options);
  return { pool: new Pool({ executor }), executor };
}

/** The engine's side of a fake executor (what a Pool would hold). */
export function dispatcherOf(executor: FakeExecutor): Dispatcher {
  return new Dispatcher(executor);
}

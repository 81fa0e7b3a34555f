/**
 * An in-thread executor for unit tests: it runs the work function on the main thread, one item
 * after the other within a batch, each taking `duration(input)` ms of the given clock (virtual
 * time under `TestScheduler.run`). A work function that throws an error named `FakeCrash` crashes
 * its "worker". It records what happened so tests can check the window, the
 * batches and that aborted work really stopped.
 */
import type { Clock } from '../../src/engine/clock.js';
import type { Attempt, BatchOutcome, ItemFailure } from '../../src/engine/executor.js';
import { SlotExecutor } from '../../src/engine/executor.js';
import type { ExecutorCounters } from '../../src/pool/executor.js';
import type { WorkSpec } from '../../src/pool/messages.js';
import { Pool } from '../../src/pool/pool.js';
import type { Transferable } from '../../src/types.js';

export interface FakeOptions {
  readonly clock: Clock;
  readonly size?: number;
  /** ms each item takes. @default 1 */
  readonly duration?: (input: any) => number;
  /** Whether `Attempt.current()` knows which item runs (thread runtime does). @default true */
  readonly knowsPosition?: boolean;
}

export class FakeExecutor extends SlotExecutor {
  readonly size: number;
  readonly knowsPosition: boolean;
  readonly counters: ExecutorCounters = { completed: 0, since: undefined, runMs: 0 };
  /** Every batch launched, with its inputs. */
  readonly batches: unknown[][] = [];
  /** Inputs whose run started, in order (each attempt). */
  readonly started: unknown[] = [];
  /** Inputs whose run was stopped by abort() before it ended. */
  readonly stopped: unknown[] = [];
  /** The most batches running at once. */
  maxBusy = 0;
  private readonly clock: Clock;
  private readonly duration: (input: any) => number;

  constructor(options: FakeOptions) {
    super();
    this.clock = options.clock;
    this.size = options.size ?? 2;
    this.knowsPosition = options.knowsPosition ?? true;
    this.duration = options.duration ?? (() => 1);
  }

  get running(): number {
    return this.busy;
  }

  async close(): Promise<void> {}

  async destroy(): Promise<void> {
    this.killAll(new Error('destroyed'));
  }

  protected launch(
    work: unknown,
    inputs: unknown[],
    _transfer: Transferable[] | undefined,
    done: (outcome: BatchOutcome) => void,
  ): Attempt {
    this.batches.push(inputs);
    this.maxBusy = Math.max(this.maxBusy, this.busy);
    const fn = compile(work as WorkSpec);
    const values: unknown[] = new Array(inputs.length);
    let failures: (ItemFailure | undefined)[] | null = null;
    let position = -1;
    let startedAt = 0;
    let cancel: (() => void) | undefined;
    let finished = false;
    const batchStart = this.clock.now();
    const finish = (outcome: BatchOutcome) => {
      if (finished) return;
      finished = true;
      done(outcome);
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
          startedAt: batchStart,
        });
        return;
      }
      const input = inputs[position];
      startedAt = this.clock.now();
      this.started.push(input);
      cancel = this.clock.setTimeout(() => {
        cancel = undefined;
        try {
          values[position] = fn(input);
          this.counters.completed++;
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
          failures[position] = { error: error as Error, retryable: true };
        }
        step();
      }, this.duration(input));
    };
    cancel = this.clock.setTimeout(step, 0);
    return {
      current: () => (position >= 0 ? { position, startedAt } : undefined),
      abort: () => {
        if (finished) return;
        cancel?.();
        if (position >= 0 && position < inputs.length) this.stopped.push(inputs[position]);
        cancel = this.clock.setTimeout(() => finish({ type: 'aborted' }), 0);
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
  return { pool: new Pool({}, executor), executor };
}

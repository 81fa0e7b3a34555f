/**
 * The engine: the one place where rxpool schedules items. It keeps the in-flight window, sends
 * items to an executor in batches, times each attempt, retries, and emits results in source order
 * or in completion order. It knows nothing of RxJS or of workers: the faces (operators,
 * `pool.imap`, `pool.map`, `pool.run`) feed it and listen to it, and an executor runs the items.
 */

import { TaskError, TaskTimeoutError, WorkerCrashedError } from '../errors.js';
import type { Transferable } from '../types.js';
import { BatchSizer } from './batching.js';
import type { Clock } from './clock.js';
import { Deque } from './deque.js';
import type {
  Attempt,
  BatchOutcome,
  ExecutorClient,
  ItemFailure,
  SlotExecutor,
} from './executor.js';
import { type Progress, ProgressMeter } from './progress.js';
import type { RetryPolicy } from './retry.js';

/** The engine's settings, already validated. */
export interface EngineConfig<In> {
  /** What to run, as the executor understands it. */
  readonly work: unknown;
  /** The most items admitted and not yet emitted. */
  readonly concurrency: number;
  readonly ordered: boolean;
  readonly batchSize: number | 'auto';
  /** Per attempt, in ms; `undefined` for none. */
  readonly timeout: number | undefined;
  readonly retry: RetryPolicy;
  readonly transfer: ((input: In) => readonly Transferable[]) | undefined;
  /** Called with the counts, throttled, and once more on completion. */
  readonly progress?: ((progress: Progress) => void) | undefined;
  /** How many items the source will give, when known (for the progress ETA). */
  readonly total?: number | undefined;
}

/** How the engine talks to its face. */
export interface EngineHooks<In, Out> {
  /** An item succeeded (in source order when `ordered`). */
  value(value: Out, index: number, input: In): void;
  /** An item failed for good (after its retries). */
  failure(error: TaskError<In>): void;
  /** The input ended and every item was emitted. */
  complete(): void;
  /** The engine stopped for a reason that is no item's: the pool was destroyed. */
  error(error: Error): void;
  /** There is room in the window: a pulling face may `push` more. */
  pull?(): void;
}

const QUEUED = 0;
const RUNNING = 1;
const WAITING = 2; // a retry's delay
const SUCCEEDED = 3;
const FAILED = 4;

// Item flags
const SOLO = 1;
const MOVED = 2;

interface Item<In> {
  readonly index: number;
  input: In;
  state: number;
  attempts: number;
  /**
   * SOLO: goes to a worker alone (it was in a batch that crashed and the culprit is unknown);
   * MOVED: its `transfer` buffers went to a worker once, so this side no longer has them.
   */
  flags: number;
  /** The value once SUCCEEDED, the `TaskError` once FAILED. Kept small: one per item in flight. */
  result: unknown;
  /** When it joined the queue (shared by items queued in one burst: one clock read a burst). */
  queuedAt: number;
}

interface Batch<In> {
  readonly items: Item<In>[];
  attempt: Attempt;
  cancelTimer: (() => void) | undefined;
  /** Position of the item that ran past the timeout, once the batch was stopped for it. */
  timedOut: number | undefined;
}

export class Engine<In, Out> implements ExecutorClient {
  /** Pushed but not yet admitted to the window (a push source faster than the window). */
  private readonly backlog = new Deque<In>();
  /** Admitted, waiting for a worker. */
  private readonly queue = new Deque<Item<In>>();
  /** Admitted and not emitted, in source order (ordered mode). */
  private readonly order = new Deque<Item<In>>();
  /** Finished and not emitted, in completion order (unordered mode). */
  private readonly finished = new Deque<Item<In>>();
  private readonly running = new Set<Batch<In>>();
  /** Items waiting for a retry's delay, and how to cancel the wait. */
  private readonly delayed = new Map<Item<In>, () => void>();
  private readonly sizer: BatchSizer;
  private readonly meter: ProgressMeter | undefined;
  private readonly detach: () => void;
  private held = 0;
  /** Items out in running batches. */
  private out = 0;
  /** The clock when the queue last started to fill. */
  private stamp = 0;
  private nextIndex = 0;
  private ended = false;
  private closed = false;
  private paused = false;
  private pumping = false;
  private again = false;

  constructor(
    private readonly config: EngineConfig<In>,
    private readonly executor: SlotExecutor,
    private readonly clock: Clock,
    private hooks: EngineHooks<In, Out>,
  ) {
    this.sizer = new BatchSizer(config.batchSize);
    this.meter = config.progress && new ProgressMeter(config.progress, config.total, clock);
    this.detach = executor.attach(this);
  }

  /** Items admitted and not yet emitted: never more than `concurrency`. */
  get inFlight(): number {
    return this.held;
  }

  /** How many more items the window takes now. */
  get room(): number {
    return this.closed ? 0 : this.config.concurrency - this.held - this.backlog.length;
  }

  /** Adds the next input of the source. Beyond the window it waits in a backlog. */
  push(input: In): void {
    if (this.closed || this.ended) return;
    if (this.held < this.config.concurrency && this.backlog.length === 0) {
      this.admit(input);
      // The hot path of a fast push source: when the queue already waited for a slot, every slot
      // is busy (the executor fills free slots at once), so nothing can move until one frees.
      if (this.queue.length > 1 && !this.pumping && !this.hooks.pull) return;
    } else {
      this.backlog.push(input);
      // The window is full: only an emission makes room, and that pumps.
      if (!this.pumping && !this.hooks.pull) return;
    }
    this.pump();
  }

  /** The source has no more inputs. */
  end(): void {
    if (this.closed || this.ended) return;
    this.ended = true;
    this.pump();
  }

  /** Stops emitting (results are held, and keep their place in the window) until `resume()`. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.pump();
  }

  /** Stops everything: queued items never run, running ones are stopped, timers are cleared. */
  cancel(): void {
    if (this.closed) return;
    this.closed = true;
    this.detach();
    for (const batch of this.running) {
      batch.cancelTimer?.();
      batch.attempt.abort();
    }
    for (const cancelDelay of this.delayed.values()) cancelDelay();
    this.running.clear();
    this.delayed.clear();
    this.backlog.clear();
    this.queue.clear();
    this.order.clear();
    this.finished.clear();
    this.held = 0;
    this.out = 0;
    this.hooks = closedHooks;
  }

  // ExecutorClient

  queued(): number {
    return this.queue.length;
  }

  kill(error: Error): void {
    if (this.closed) return;
    const hooks = this.hooks;
    this.cancel();
    hooks.error(error);
  }

  dispatch(): boolean {
    if (this.closed) return false;
    const first = this.queue.shift();
    if (!first) return false;
    const items = [first];
    if (!(first.flags & SOLO)) {
      const size =
        this.config.timeout !== undefined && !this.executor.knowsPosition
          ? 1
          : this.sizer.next(this.queue.length + 1, this.executor.slots, this.out);
      this.queue.shiftInto(items, size, isSolo);
    }
    this.launch(items);
    return this.queue.length > 0;
  }

  // Internals

  private admit(input: In): void {
    if (this.nextIndex === 0) this.meter?.start();
    if (this.queue.length === 0) this.stamp = this.clock.now();
    const item: Item<In> = {
      index: this.nextIndex++,
      input,
      state: QUEUED,
      attempts: 0,
      flags: 0,
      result: undefined,
      queuedAt: this.stamp,
    };
    this.held++;
    if (this.config.ordered) this.order.push(item);
    this.queue.push(item);
  }

  private launch(items: Item<In>[]): void {
    let transferList: Transferable[] | undefined;
    const transfer = this.config.transfer;
    if (transfer) {
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!;
        if (item.flags & MOVED) {
          // A retry, or a batch-mate of a crash: what it transferred is gone from this side.
          this.attemptFailed(item, { error: movedError(), retryable: false });
          items.splice(i--, 1);
          continue;
        }
        try {
          const list = transfer(item.input);
          if (list.length > 0) {
            item.flags |= MOVED;
            transferList ??= [];
            transferList.push(...list);
          }
        } catch (error) {
          this.attemptFailed(item, { error: asError(error), retryable: false });
          items.splice(i--, 1);
        }
      }
      if (items.length === 0) {
        this.pump();
        return;
      }
    }
    const inputs = items.map((item) => {
      item.state = RUNNING;
      return item.input as unknown;
    });
    const batch: Batch<In> = {
      items,
      attempt: undefined as unknown as Attempt,
      cancelTimer: undefined,
      timedOut: undefined,
    };
    batch.attempt = this.executor.submit(
      this.config.work,
      inputs,
      transferList,
      (outcome) => this.settle(batch, outcome),
      {
        expectedMs: this.sizer.expectedMs(items.length),
        timed: this.config.timeout !== undefined,
      },
    );
    this.running.add(batch);
    this.out += items.length;
    if (this.config.timeout !== undefined) this.armTimeout(batch, this.config.timeout);
  }

  private armTimeout(batch: Batch<In>, ms: number): void {
    batch.cancelTimer = this.clock.setTimeout(() => this.checkTimeout(batch), ms);
  }

  /** The time counted is each item's own, as the executor reports when it started. */
  private checkTimeout(batch: Batch<In>): void {
    batch.cancelTimer = undefined;
    if (this.closed || !this.running.has(batch)) return;
    const timeout = this.config.timeout!;
    const current = batch.attempt.current();
    if (!current || current.position >= batch.items.length) {
      this.armTimeout(batch, timeout);
      return;
    }
    const elapsed = this.clock.now() - current.startedAt;
    // Timers may fire up to a millisecond early against a sub-millisecond clock.
    if (elapsed >= timeout - 1) {
      batch.timedOut = current.position;
      batch.attempt.abort();
    } else {
      this.armTimeout(batch, timeout - elapsed);
    }
  }

  private settle(batch: Batch<In>, outcome: BatchOutcome): void {
    if (this.closed) return;
    this.running.delete(batch);
    this.out -= batch.items.length;
    batch.cancelTimer?.();
    const { items } = batch;
    switch (outcome.type) {
      case 'done': {
        this.sizer.observe(outcome.ms, outcome.count);
        this.executor.waitTimes.add(Math.max(0, outcome.startedAt - items[0]!.queuedAt));
        const { values, failures, count } = outcome;
        for (let i = 0; i < count; i++) {
          const failure = failures?.[i];
          if (failure) this.attemptFailed(items[i]!, failure);
          else this.succeeded(items[i]!, values[i] as Out);
        }
        this.requeue(items, count, items.length, false);
        break;
      }
      case 'crashed':
        if (outcome.position !== undefined || items.length === 1) {
          const position = outcome.position ?? 0;
          this.attemptFailed(items[position]!, { error: outcome.error, retryable: true }, 'crash');
          this.requeue(items, position + 1, items.length, false);
          this.requeue(items, 0, position, false);
        } else {
          this.requeue(items, 0, items.length, true);
        }
        break;
      case 'unsendable': {
        const { blamed } = outcome;
        for (let i = items.length - 1; i >= 0; i--) {
          const error = blamed?.get(i);
          if (error) this.attemptFailed(items[i]!, { error, retryable: false });
          else this.requeue(items, i, i + 1, blamed === undefined);
        }
        break;
      }
      case 'aborted':
        if (batch.timedOut !== undefined) {
          const position = batch.timedOut;
          this.attemptFailed(items[position]!, undefined, 'timeout');
          this.requeue(items, position + 1, items.length, false);
          this.requeue(items, 0, position, false);
        } else {
          this.requeue(items, 0, items.length, false);
        }
        break;
      case 'lost':
        this.requeue(items, 0, items.length, false);
        break;
    }
    this.pump();
  }

  /** Puts `items[from..to)` back at the head of the queue, in order: they did not count as run. */
  private requeue(items: Item<In>[], from: number, to: number, solo: boolean): void {
    const now = from < to ? this.clock.now() : 0;
    for (let i = to - 1; i >= from; i--) {
      const item = items[i]!;
      item.state = QUEUED;
      item.queuedAt = now;
      if (solo) item.flags |= SOLO;
      this.queue.unshift(item);
    }
  }

  private succeeded(item: Item<In>, value: Out): void {
    item.attempts++;
    item.state = SUCCEEDED;
    item.result = value;
    if (!this.config.ordered) this.finished.push(item);
  }

  private attemptFailed(
    item: Item<In>,
    failure: ItemFailure | undefined,
    kind: 'error' | 'crash' | 'timeout' = 'error',
  ): void {
    item.attempts++;
    const details = { index: item.index, input: item.input, attempts: item.attempts };
    let error: TaskError<In>;
    if (kind === 'timeout') {
      error = new TaskTimeoutError({ ...details, timeout: this.config.timeout! });
    } else if (kind === 'crash') {
      error = new WorkerCrashedError({ ...details, cause: failure!.error });
    } else {
      error = new TaskError({ ...details, cause: failure!.error, hint: failure!.hint });
    }
    const retryable = kind !== 'error' || failure!.retryable;
    const { retry } = this.config;
    if (retryable && item.attempts <= retry.count && retry.retryIf(error, item.attempts)) {
      const delay = retry.delay(item.attempts);
      if (delay > 0) {
        item.state = WAITING;
        this.delayed.set(
          item,
          this.clock.setTimeout(() => {
            this.delayed.delete(item);
            this.requeue([item], 0, 1, false);
            this.pump();
          }, delay),
        );
      } else {
        this.requeue([item], 0, 1, false);
      }
      return;
    }
    item.state = FAILED;
    item.result = error;
    if (!this.config.ordered) this.finished.push(item);
  }

  /**
   * Moves everything that can move: admits from the backlog, asks for slots, emits, asks the face
   * for more input, completes. Re-entrant calls (a hook that pushes or cancels) fold into a rerun.
   */
  private pump(): void {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.again = false;
        while (this.backlog.length > 0 && this.held < this.config.concurrency) {
          this.admit(this.backlog.shift()!);
        }
        if (this.queue.length > 0) this.executor.schedule(this);
        if (this.closed) return;
        // Emitting frees room in the window for what waits in the backlog: go round again.
        if (this.emit()) {
          if (this.backlog.length > 0) this.again = true;
          if (this.meter) this.report(false);
        }
        if (this.closed) return;
        if (this.ended) {
          if (this.held === 0 && this.backlog.length === 0) {
            if (this.meter) this.report(true);
            if (this.closed) return;
            const hooks = this.hooks;
            this.cancel();
            hooks.complete();
            return;
          }
        } else if (this.backlog.length === 0 && this.held < this.config.concurrency) {
          this.hooks.pull?.();
        }
      } while (this.again && !this.closed);
    } finally {
      this.pumping = false;
    }
  }

  /** Calls the progress callback; when it throws, the stream errors with what it threw. */
  private report(final: boolean): void {
    try {
      this.meter!.flush(this.held, final);
    } catch (error) {
      this.kill(asError(error));
    }
  }

  /** Emits what is ready; returns whether anything was emitted. */
  private emit(): boolean {
    const source = this.config.ordered ? this.order : this.finished;
    let emitted = false;
    while (!this.paused && !this.closed) {
      const item = source.peek();
      if (!item || item.state < SUCCEEDED) break;
      emitted = true;
      source.shift();
      this.held--;
      const input = item.input;
      item.input = undefined as In;
      this.meter?.emitted(item.state === FAILED);
      if (item.state === SUCCEEDED) {
        const value = item.result as Out;
        item.result = undefined;
        this.hooks.value(value, item.index, input);
      } else {
        this.hooks.failure(item.result as TaskError<In>);
      }
    }
    return emitted;
  }
}

const noop = () => {};
const isSolo = (item: { flags: number }) => (item.flags & SOLO) !== 0;
const closedHooks: EngineHooks<any, any> = {
  value: noop,
  failure: noop,
  complete: noop,
  error: noop,
};

function movedError(): Error {
  const error = new Error(
    'The input cannot run again: its `transfer` buffers were moved to a worker by an earlier ' +
      'attempt and are gone from this side. To retry such items, share the memory ' +
      '(SharedArrayBuffer) or copy it (no `transfer`).',
  );
  error.name = 'TransferredError';
  return error;
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

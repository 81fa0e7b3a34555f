/**
 * The batch runner: runs the items of a batch one after the other, keeps each item's result or
 * failure apart, and reports which item runs through the batch's control cells, so that the main
 * side can time items, name the one a crash happened under, and cancel a batch it holds. Batches
 * of numbers come and go packed in a `Float64Array`. It needs nothing of what hosts the worker:
 * the host glue (host.ts) makes one {@link Runner} per worker with the worker's id and control
 * block, hands it each request, and sends what it answers; a test drives it the same way, with no
 * worker (test/unit/runner.test.ts).
 */
import { performance } from 'node:perf_hooks';
import type { TransferListItem } from '../types.js';
import { findUncloneable } from '../wire/clone.js';
import { type Carrier, cloneCarrier, cloneFailure, serializeError } from '../wire/error.js';
import { ExactJson, isExactNumber } from '../wire/exact-json.js';
import {
  type BatchRequest,
  type BatchResponse,
  type Broadcast,
  ControlBlock,
  MOVE_BRAND,
  ResultList,
  type WireError,
} from '../wire/messages.js';
import { inTraceContext } from '../wire/trace-context.js';
import type { TraceCarrier, WorkSpec } from '../wire/work.js';
import { WorkerContext } from './context.js';
import { type FlatGate, type FlatPost, flushEnded, streamItem } from './flat.js';
import { WorkerLifecycle } from './lifecycle.js';
import { type Fn, load, NotArguments } from './load.js';
import { sendable } from './sendable.js';

/** What the host tells the runner about this worker. */
export interface RunnerHost {
  /** `threadId`, or the process's `pid` in a child process. */
  readonly workerId: number;
  /** The control block shared with every thread worker, if any. */
  readonly sharedControl: ControlBlock | undefined;
  /**
   * A thread worker: results' buffers may move to the main side, and a `SharedArrayBuffer` is
   * shared with it. Not in a child process, whose pipe copies everything and shares no memory.
   */
  readonly sharesMemory: boolean;
}

const timeOrigin = performance.timeOrigin;
const now = () => timeOrigin + performance.now();

/** A batch as it runs: what {@link runItems} reads, and what it fills in. */
interface Running {
  readonly fn: Fn;
  readonly inputs: ArrayLike<unknown>;
  readonly work: WorkSpec;
  readonly control: ControlBlock | undefined;
  readonly row: number;
  readonly timed: boolean;
  readonly maxItems: number;
  readonly values: ResultList;
  /** Whether the results so far can travel as JSON text; absent when the request does not ask. */
  readonly json: ExactJson | undefined;
  /** The caller's trace context of each item, made active while it runs; absent when none. */
  readonly traces: readonly (TraceCarrier | undefined)[] | undefined;
  /** Where {@link runItems} stops: the end of the batch, or of a run of one trace context. */
  until: number;
  failures: (WireError | undefined)[] | null;
  transferList: TransferListItem[] | undefined;
  retire: boolean;
  /** What the item at the position `runItems` returned gave: a promise, to be awaited. */
  pending: PromiseLike<unknown> | undefined;
}

/** How a flat batch's values leave the worker, and the credit they go under (host.ts). */
export interface FlatIo {
  readonly gate: FlatGate;
  readonly post: FlatPost;
}

/** One worker's runner: what it knows of its worker, and what it counts across batches. */
export class Runner {
  /** The second argument of every task in this worker (one object, see ./context.ts). */
  readonly context: WorkerContext;
  /** The pool's setup and teardown in this worker. */
  readonly lifecycle: WorkerLifecycle;
  /** What may travel to the main side as it is, in a thrown error's properties. */
  readonly carries: Carrier;
  /** Items run in this worker (for `maxTasksPerWorker`). */
  private itemsRun = 0;
  /** The control row of the batch this worker runs now, if any. */
  private holding: { control: ControlBlock; row: number } | undefined;

  constructor(private readonly host: RunnerHost) {
    this.context = new WorkerContext(host.workerId);
    this.lifecycle = new WorkerLifecycle(this.context);
    this.carries = cloneCarrier(host.sharesMemory);
  }

  /**
   * The worker is exiting on its own (`process.exit`): the row of the batch it holds says so, for
   * the main side to tell the death from a stop (see `ControlBlock.exited`).
   */
  exiting(code: number): void {
    this.holding?.control.exited(this.holding.row, code);
  }

  /** {@link sendable} with this worker's carrier. */
  sendable(response: BatchResponse, copy: (value: unknown) => void): BatchResponse {
    return sendable(response, copy, this.carries);
  }

  /** Runs one batch. Never throws for an item: failures are reported per item. */
  async runBatch(
    request: BatchRequest,
    flat?: FlatIo,
  ): Promise<{ response: BatchResponse; transferList: TransferListItem[] | undefined }> {
    const { inputs } = request;
    const ref = request.control;
    const control = ref && (ref.buffer ? new ControlBlock(ref.buffer, 1) : this.host.sharedControl);
    const row = ref?.row ?? 0;
    const { workerId } = this.host;
    control?.took(row, workerId);
    const held = control && { control, row };
    this.holding = held;
    const n = inputs.length;
    const start = now();
    this.context.begin(request.id, request.spans);
    this.lifecycle.knowTeardown(request.teardown);
    // A timed batch's first item is timed from here: loading its module and the pool's setup count
    // in its time, as they do for a child process (timed from when it was handed the batch), so an
    // import or a setup that never ends runs into the timeout instead of hanging the call.
    if (request.timed) control?.running(row, 0, start);

    let fn: Fn | undefined;
    let loadFailure: WireError | undefined;
    const setupFailure = request.setup ? await this.lifecycle.setupOnce(request.setup) : undefined;
    if (setupFailure) {
      loadFailure = setupFailure;
    } else {
      try {
        const entry = load(request.work);
        fn = typeof entry === 'function' ? entry : await entry;
      } catch (error) {
        loadFailure = { ...serializeError(error, request.work, this.carries), fatal: 'load' };
      }
    }

    const results = new ResultList(n);
    let failures: (WireError | undefined)[] | null = null;
    let transferList: TransferListItem[] | undefined;
    let retire = setupFailure !== undefined;
    let count = 0;
    let json: ExactJson | undefined;
    if (loadFailure !== undefined || fn === undefined) {
      // Nothing can run: every item fails with why.
      failures = new Array(n).fill(loadFailure);
      count = n;
    } else if (flat !== undefined) {
      ({ count, failures, retire } = await this.runFlat(request, fn, flat, control, row));
      if (request.maxHeapBytes > 0 && process.memoryUsage().heapUsed > request.maxHeapBytes) {
        retire = true;
      }
    } else {
      const run: Running = {
        fn,
        inputs,
        work: request.work,
        control,
        row,
        timed: request.timed,
        maxItems: request.maxItems,
        values: results,
        json: request.jsonResults ? new ExactJson() : undefined,
        traces: request.traces,
        until: n,
        failures: null,
        transferList: undefined,
        retire,
        pending: undefined,
      };
      // Synchronous items run in one plain loop; an item that returns a promise is awaited here,
      // and the loop goes on after it.
      for (;;) {
        // Aborted before it started (the abort came first): nothing runs.
        if (this.context.aborted !== undefined) break;
        count = run.traces === undefined ? this.runItems(run, count) : this.runTraced(run, count);
        const pending = run.pending;
        if (pending === undefined) break;
        run.pending = undefined;
        control?.setAwaiting(row, true);
        try {
          this.keep(run, count, await pending);
        } catch (error) {
          this.fail(run, count, error);
        }
        control?.setAwaiting(row, false);
        count++;
        // Aborted, or cancelled, while it awaited: the items after it do not start.
        if (this.context.aborted !== undefined || control?.cancelled(row)) break;
      }
      ({ failures, transferList, retire } = run);
      json = run.json;
      // Memory recycling: a worker whose heap grew past the limit is replaced between items.
      if (request.maxHeapBytes > 0 && process.memoryUsage().heapUsed > request.maxHeapBytes) {
        retire = true;
      }
    }
    // It is about to be replaced: its teardown runs now, before its answer.
    const teardownError = retire ? await this.lifecycle.teardownOnce() : undefined;
    control?.moveTo(row, n);
    if (this.holding === held) this.holding = undefined;
    const taken = results.take(count);
    const { buffer } = taken;
    let { values } = taken;
    if (buffer && this.host.sharesMemory) {
      transferList ??= [];
      transferList.push(buffer);
    }
    // Results that are not all numbers go as JSON text when that gives back the same values. (The
    // places of items that failed or did not run become `null` there: they are not read.)
    const text = buffer === undefined && count > 0 ? json?.encode(values as unknown[]) : undefined;
    if (text !== undefined) values = [];

    const response: BatchResponse = {
      values,
      json: text,
      failures,
      count,
      ms: now() - start,
      retire,
      workerId,
      ...(teardownError && { teardownError }),
    };
    return { response, transferList };
  }

  /**
   * Runs the items of a flat batch one after the other, each streaming its values (./flat.ts). A
   * stop leaves the item it stopped unfinished: it and those after it count as not run.
   */
  private async runFlat(
    request: BatchRequest,
    fn: Fn,
    { gate, post }: FlatIo,
    control: ControlBlock | undefined,
    row: number,
  ): Promise<{ count: number; failures: (WireError | undefined)[] | null; retire: boolean }> {
    const { inputs, maxItems, work } = request;
    const n = inputs.length;
    let failures: (WireError | undefined)[] | null = null;
    let retire = false;
    let count = 0;
    const failure = (error: unknown): WireError =>
      error instanceof NotArguments
        ? { ...serializeError(error, undefined), fatal: 'arguments' }
        : serializeError(error, work);
    for (; count < n; count++) {
      if (maxItems > 0 && this.itemsRun >= maxItems) {
        retire = true;
        break;
      }
      if (gate.stopped || this.context.aborted !== undefined || control?.cancelled(row)) break;
      control?.running(row, count, now());
      this.itemsRun++;
      this.context.at = count;
      const at = count;
      const context = this.context;
      const { sharesMemory } = this.host;
      // In the caller's trace context, entered once: a generator's body runs at each pull, and the
      // pulls (and their awaits) continue in the context this call was made in.
      const failed = await inTraceContext(request.traces?.[at], () => {
        let result: unknown;
        let thrown: WireError | undefined;
        try {
          // The context as every task's: a generator's body reads it when it is pulled.
          if (request.timed && control) {
            control.setCalling(row, 1);
            try {
              result = fn(inputs[at], context);
            } finally {
              control.setCalling(row, 0);
            }
          } else {
            result = fn(inputs[at], context);
          }
        } catch (error) {
          thrown = failure(error);
        }
        return streamItem(result, thrown, at, gate, post, sharesMemory, failure);
      });
      if (gate.stopped) break;
      if (failed) {
        failures ??= new Array(n);
        failures[count] = failed;
      }
    }
    flushEnded();
    return { count, failures, retire };
  }

  /**
   * Runs the items of a batch from position `from` on, until the batch ends, is cancelled, or the
   * worker has run its `maxItems`; or until an item returns a promise, which it leaves in
   * `run.pending`. Returns the position it stopped at (the items before it have run).
   */
  private runItems(run: Running, from: number): number {
    const { fn, inputs, control, row, timed, maxItems, values } = run;
    const n = run.until;
    let count = from;
    for (; count < n; count++) {
      if (maxItems > 0 && this.itemsRun >= maxItems) {
        run.retire = true;
        break;
      }
      if (control) {
        // Cancelled while it waited in this worker's queue: it goes unrun. (Once it runs, a cancel
        // stops this worker; looking now and then only spares the work until that lands.)
        // (A timed batch looks before each item: it may have been aborted for a timeout.)
        if ((timed || count === from || (count & 63) === 0) && control.cancelled(row)) break;
        if (timed || count === 0) control.running(row, count, now());
        else control.moveTo(row, count);
      }
      this.itemsRun++;
      this.context.at = count;
      let value: unknown;
      try {
        if (timed && control) {
          control.setCalling(row, 1);
          try {
            value = fn(inputs[count], this.context);
          } finally {
            control.setCalling(row, 0);
          }
        } else {
          value = fn(inputs[count], this.context);
        }
        if (typeof value === 'number') {
          values.set(count, value);
          if (run.json?.ok && !isExactNumber(value)) run.json.ok = false;
          continue;
        }
        if (
          value !== null &&
          typeof value === 'object' &&
          typeof (value as any).then === 'function'
        ) {
          run.pending = value as PromiseLike<unknown>;
          return count;
        }
        this.keep(run, count, value);
      } catch (error) {
        this.fail(run, count, error);
      }
    }
    return count;
  }

  /**
   * Runs `pool.broadcast`'s work once in this worker (after its setup), with the this.context of a
   * lone item; never throws: a failure comes back as a `WireError`.
   */
  async runOnce(
    broadcast: Broadcast['broadcast'],
  ): Promise<{ value?: unknown; error?: WireError }> {
    this.context.begin(-1, undefined);
    this.lifecycle.knowTeardown(broadcast.teardown);
    if (broadcast.setup) {
      const failure = await this.lifecycle.setupOnce(broadcast.setup);
      if (failure) return { error: failure };
    }
    try {
      const fn = await load(broadcast.work);
      const value = await fn(broadcast.input, this.context);
      const problem = findUncloneable(value, 'the result', { shared: this.host.sharesMemory });
      return problem ? { error: cloneFailure(problem) } : { value };
    } catch (error) {
      return { error: serializeError(error, broadcast.work, this.carries) };
    }
  }

  /** Keeps an item's result: its `move()` list joins the batch's, and it must be cloneable. */
  private keep(run: Running, at: number, value: unknown): void {
    if (value !== null && typeof value === 'object' && MOVE_BRAND in value) {
      const list = (value as Record<symbol, TransferListItem[]>)[MOVE_BRAND]!;
      delete (value as Record<symbol, unknown>)[MOVE_BRAND];
      if (this.host.sharesMemory) {
        run.transferList ??= [];
        run.transferList.push(...list);
      }
    }
    // A JSON-exact value can be cloned: one walk instead of two.
    if (run.json?.add(value)) {
      run.values.set(at, value);
      return;
    }
    const problem = findUncloneable(value, 'the result', { shared: this.host.sharesMemory });
    if (problem) {
      run.failures ??= new Array(run.inputs.length);
      run.failures[at] = cloneFailure(problem);
    } else {
      run.values.set(at, value);
    }
  }

  private fail(run: Running, at: number, error: unknown): void {
    run.failures ??= new Array(run.inputs.length);
    run.failures[at] =
      error instanceof NotArguments
        ? { ...serializeError(error, undefined, this.carries), fatal: 'arguments' }
        : serializeError(error, run.work, this.carries);
  }

  /**
   * {@link runItems} for a batch whose items carry their callers' trace contexts: each run of
   * items with the same this.context (most often the whole batch) runs inside that this.context, entered once.
   */
  private runTraced(run: Running, from: number): number {
    const { traces, inputs } = run;
    const n = inputs.length;
    let count = from;
    while (count < n) {
      const carrier = traces![count];
      let end = count + 1;
      while (end < n && traces![end] === carrier) end++;
      run.until = end;
      const at = count;
      count = inTraceContext(carrier, () => this.runItems(run, at));
      run.until = n;
      // Stopped before the end of the run: an item returned a promise, or the batch ended early.
      if (count < end) break;
    }
    return count;
  }
}

/**
 * The batch runner: runs the items of a batch one after the other, keeps each item's result or
 * failure apart, and reports which item runs through the batch's control cells, so that the main
 * side can time items, name the one a crash happened under, and cancel a batch it holds. Batches
 * of numbers come and go packed in a `Float64Array`. It needs nothing of what hosts the worker:
 * the host glue (host.ts) gives it the worker's id and control block.
 */
import { performance } from 'node:perf_hooks';
import { findUncloneable } from '../pool/clone.js';
import { ExactJson, isExactNumber } from '../pool/exact-json.js';
import {
  type BatchRequest,
  type BatchResponse,
  type Broadcast,
  ControlBlock,
  MOVE_BRAND,
  ResultList,
  type WireError,
  type WorkSpec,
} from '../pool/messages.js';
import { inTraceContext, type TraceCarrier } from '../pool/trace-context.js';
import type { TransferListItem } from '../types.js';
import { WorkerContext } from './context.js';
import { type FlatGate, type FlatPost, flushEnded, streamItem } from './flat.js';
import { type Fn, knowTeardown, load, NotArguments, setupOnce, teardownOnce } from './load.js';
import { type Carrier, cloneCarrier, cloneFailure, serializeError } from './wire-error.js';

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

let host: RunnerHost = { workerId: 0, sharedControl: undefined, sharesMemory: true };
/** The second argument of every task in this worker (one object, see ./context.ts). */
export let context = new WorkerContext(0);
/** What may travel to the main side as it is, in a thrown error's properties. */
let carries: Carrier = cloneCarrier(true);
let itemsRun = 0;
const timeOrigin = performance.timeOrigin;
const now = () => timeOrigin + performance.now();

/** The control row of the batch this worker runs now, if any. */
let holding: { control: ControlBlock; row: number } | undefined;

/** Called once by the host glue, before any batch. */
export function hostRunner(given: RunnerHost): void {
  host = given;
  context = new WorkerContext(given.workerId);
  carries = cloneCarrier(given.sharesMemory);
}

/**
 * The worker is exiting on its own (`process.exit`): the row of the batch it holds says so, for
 * the main side to tell the death from a stop (see `ControlBlock.exited`).
 */
export function exiting(code: number): void {
  holding?.control.exited(holding.row, code);
}

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

/** Runs one batch. Never throws for an item: failures are reported per item. */
export async function runBatch(
  request: BatchRequest,
  flat?: FlatIo,
): Promise<{ response: BatchResponse; transferList: TransferListItem[] | undefined }> {
  const { inputs } = request;
  const ref = request.control;
  const control = ref && (ref.buffer ? new ControlBlock(ref.buffer, 1) : host.sharedControl);
  const row = ref?.row ?? 0;
  const { workerId } = host;
  control?.took(row, workerId);
  const held = control && { control, row };
  holding = held;
  const n = inputs.length;
  const start = now();
  context.begin(request.id, request.spans);
  knowTeardown(request.teardown);
  // A timed batch's first item is timed from here: loading its module and the pool's setup count
  // in its time, as they do for a child process (timed from when it was handed the batch), so an
  // import or a setup that never ends runs into the timeout instead of hanging the call.
  if (request.timed) control?.running(row, 0, start);

  let fn: Fn | undefined;
  let loadFailure: WireError | undefined;
  const setupFailure = request.setup ? await setupOnce(request.setup, context) : undefined;
  if (setupFailure) {
    loadFailure = setupFailure;
  } else {
    try {
      const entry = load(request.work);
      fn = typeof entry === 'function' ? entry : await entry;
    } catch (error) {
      loadFailure = { ...serializeError(error, request.work, carries), fatal: 'load' };
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
    ({ count, failures, retire } = await runFlat(request, fn, flat, control, row));
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
      if (context.aborted !== undefined) break;
      count = run.traces === undefined ? runItems(run, count) : runTraced(run, count);
      const pending = run.pending;
      if (pending === undefined) break;
      run.pending = undefined;
      control?.setAwaiting(row, true);
      try {
        keep(run, count, await pending);
      } catch (error) {
        fail(run, count, error);
      }
      control?.setAwaiting(row, false);
      count++;
      // Aborted, or cancelled, while it awaited: the items after it do not start.
      if (context.aborted !== undefined || control?.cancelled(row)) break;
    }
    ({ failures, transferList, retire } = run);
    json = run.json;
    // Memory recycling: a worker whose heap grew past the limit is replaced between items.
    if (request.maxHeapBytes > 0 && process.memoryUsage().heapUsed > request.maxHeapBytes) {
      retire = true;
    }
  }
  // It is about to be replaced: its teardown runs now, before its answer.
  const teardownError = retire ? await teardownOnce(context) : undefined;
  control?.moveTo(row, n);
  if (holding === held) holding = undefined;
  const taken = results.take(count);
  const { buffer } = taken;
  let { values } = taken;
  if (buffer && host.sharesMemory) {
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
async function runFlat(
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
    if (maxItems > 0 && itemsRun >= maxItems) {
      retire = true;
      break;
    }
    if (gate.stopped || context.aborted !== undefined || control?.cancelled(row)) break;
    control?.running(row, count, now());
    itemsRun++;
    context.at = count;
    const at = count;
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
      return streamItem(result, thrown, at, gate, post, host.sharesMemory, failure);
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
function runItems(run: Running, from: number): number {
  const { fn, inputs, control, row, timed, maxItems, values } = run;
  const n = run.until;
  let count = from;
  for (; count < n; count++) {
    if (maxItems > 0 && itemsRun >= maxItems) {
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
    itemsRun++;
    context.at = count;
    let value: unknown;
    try {
      if (timed && control) {
        control.setCalling(row, 1);
        try {
          value = fn(inputs[count], context);
        } finally {
          control.setCalling(row, 0);
        }
      } else {
        value = fn(inputs[count], context);
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
      keep(run, count, value);
    } catch (error) {
      fail(run, count, error);
    }
  }
  return count;
}

/**
 * Runs `pool.broadcast`'s work once in this worker (after its setup), with the context of a
 * lone item; never throws: a failure comes back as a `WireError`.
 */
export async function runOnce(
  broadcast: Broadcast['broadcast'],
): Promise<{ value?: unknown; error?: WireError }> {
  context.begin(-1, undefined);
  knowTeardown(broadcast.teardown);
  if (broadcast.setup) {
    const failure = await setupOnce(broadcast.setup, context);
    if (failure) return { error: failure };
  }
  try {
    const fn = await load(broadcast.work);
    const value = await fn(broadcast.input, context);
    const problem = findUncloneable(value, 'the result', { shared: host.sharesMemory });
    return problem ? { error: cloneFailure(problem) } : { value };
  } catch (error) {
    return { error: serializeError(error, broadcast.work, carries) };
  }
}

/** Keeps an item's result: its `move()` list joins the batch's, and it must be cloneable. */
function keep(run: Running, at: number, value: unknown): void {
  if (value !== null && typeof value === 'object' && MOVE_BRAND in value) {
    const list = (value as Record<symbol, TransferListItem[]>)[MOVE_BRAND]!;
    delete (value as Record<symbol, unknown>)[MOVE_BRAND];
    if (host.sharesMemory) {
      run.transferList ??= [];
      run.transferList.push(...list);
    }
  }
  // A JSON-exact value can be cloned: one walk instead of two.
  if (run.json?.add(value)) {
    run.values.set(at, value);
    return;
  }
  const problem = findUncloneable(value, 'the result', { shared: host.sharesMemory });
  if (problem) {
    run.failures ??= new Array(run.inputs.length);
    run.failures[at] = cloneFailure(problem);
  } else {
    run.values.set(at, value);
  }
}

function fail(run: Running, at: number, error: unknown): void {
  run.failures ??= new Array(run.inputs.length);
  run.failures[at] =
    error instanceof NotArguments
      ? { ...serializeError(error, undefined, carries), fatal: 'arguments' }
      : serializeError(error, run.work, carries);
}

/**
 * A response as it can be sent, when `copy` (what sending it does to it: a structured clone, or a
 * child process's serialization) threw for the whole of it. A result can pass every check and
 * still fail to copy on the way out (a getter that gives a value when the check reads it and
 * throws when the copy does; a value changed after it was checked): each result and failure is
 * copied alone, and one that fails becomes its item's failure, with what the copy threw as its
 * cause (not tried again, as a result that cannot be cloned); the other items' results stand. If
 * the response still cannot be copied, every item fails with why.
 */
export function sendable(response: BatchResponse, copy: (value: unknown) => void): BatchResponse {
  const { count } = response;
  const values = ArrayBuffer.isView(response.values) ? response.values : [...response.values];
  const failures: (WireError | undefined)[] = response.failures
    ? [...response.failures]
    : new Array(count);
  for (let i = 0; i < count; i++) {
    const failure = failures[i];
    if (failure !== undefined) {
      try {
        copy(failure);
      } catch {
        failures[i] = plainFailure(failure);
      }
    } else if (Array.isArray(values)) {
      try {
        copy(values[i]);
      } catch (error) {
        failures[i] = copyFailure(error);
        values[i] = undefined;
      }
    }
  }
  const repaired: BatchResponse = { ...response, values, failures };
  try {
    copy(repaired);
    return repaired;
  } catch (error) {
    const why = copyFailure(error);
    return { ...response, values: [], json: undefined, failures: new Array(count).fill(why) };
  }
}

/** A result's copy threw `error`: that item's failure, not retried. */
function copyFailure(error: unknown): WireError {
  return { ...serializeError(error, undefined, carries), fatal: 'clone', hint: COPY_HINT };
}

const COPY_HINT =
  'It was thrown while the result was copied to the main side, after the task returned: a ' +
  'getter in the result threw, or the result held something that cannot be copied.';

/** A failure reduced to text, which any copy takes. */
function plainFailure(wire: WireError): WireError {
  return {
    name: String(wire.name),
    message: String(wire.message),
    stack: typeof wire.stack === 'string' ? wire.stack : undefined,
    props: {},
    nonError: Boolean(wire.nonError),
    cause: undefined,
    fatal: wire.fatal,
    hint: typeof wire.hint === 'string' ? wire.hint : undefined,
  };
}

/**
 * {@link runItems} for a batch whose items carry their callers' trace contexts: each run of
 * items with the same context (most often the whole batch) runs inside that context, entered once.
 */
function runTraced(run: Running, from: number): number {
  const { traces, inputs } = run;
  const n = inputs.length;
  let count = from;
  while (count < n) {
    const carrier = traces![count];
    let end = count + 1;
    while (end < n && traces![end] === carrier) end++;
    run.until = end;
    const at = count;
    count = inTraceContext(carrier, () => runItems(run, at));
    run.until = n;
    // Stopped before the end of the run: an item returned a promise, or the batch ended early.
    if (count < end) break;
  }
  return count;
}

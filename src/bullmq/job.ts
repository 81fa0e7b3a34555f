/**
 * The wire format of rxpool's BullMQ jobs, shared by the producer (`bullmqExecutor`) and the
 * consumer (`rxpool worker`). It imports nothing from BullMQ, so both sides and the tests can use
 * it alone.
 *
 * ## A batch is a job
 *
 * One job carries one batch: several items of the same work. Every launch of a batch, a retry
 * too, is a job of its own with its own job id (the producer chooses it, for example
 * `<stream>.<batch>.<launch>`): a late finish of an old launch can then never be mistaken for the
 * new one. The job's name is {@link JOB_NAME}; its data is a {@link BatchJobData}. The worker
 * writes the batch's {@link BatchJobResult} into the job's data in place of the inputs, then
 * completes the job with a small {@link BatchJobDone} as its return value: BullMQ copies a
 * completed job's return value into the queue's events stream, which keeps it until the stream
 * is trimmed (by thousands of events, approximately), so results returned there piled up in
 * Redis from run to run; the job's data goes when the producer removes the job. A job completes
 * (BullMQ's `completed`) whenever the
 * worker ran it, whatever its items did: failures are per item, in the result. A job fails
 * (BullMQ's `failed`) only when it could not be run as a batch at all: data of another format
 * version ({@link FormatError}), cancelled through the {@link cancelChannel}, or stalled.
 *
 * ## A worker that dies
 *
 * A stalled job (its worker died: its lock, `LOCK_DURATION_MS` of ./serve.ts, expired) is
 * never run again: with `maxStalledCount: 0`, the stalled check of another worker (every second)
 * puts it back in `wait` with a deferred failure (the job's `deferredFailure` and
 * `stalledCounter` 1, a `stalled` event), and the next worker that takes it moves it to `failed`
 * with the reason "job stalled more than allowable limit" without running it (BullMQ 6.7,
 * `moveStalledJobsToWait` and `Worker.getUnrecoverableErrorMessage`). The producer counts it as a
 * crashed batch (it may know the culprit from `processedBy`, the worker's `<hostname>:<pid>`) and
 * launches the batch again as a new job. It can do so as soon as it sees `stalledCounter > 0` on
 * the job: a job that stalled while no other worker runs waits for one.
 *
 * ## Values keep structured-clone semantics
 *
 * BullMQ stores a job's data and return value as JSON, which would turn a `Date` into a string,
 * a `Map` into `{}`, `-0` into `0`, and refuse a `BigInt`. So the inputs and the outcomes travel
 * as `v8.serialize` (the serializer of structured clone: what a `postMessage` to a thread keeps
 * arrives here too: `Date`, `Map`, `Set`, `RegExp`, typed arrays, `-0`, `NaN`, `BigInt`,
 * `undefined`, holes, cycles), as one base64 string each. Base64 is what JSON carries best: the
 * raw bytes as a latin1 string grow more (every byte above 0x7f takes two bytes of UTF-8 and
 * every control byte six in JSON), see bench/RESULTS.md ("BullMQ job payloads").
 *
 * ## Errors
 *
 * A failed item's error travels as a {@link WireError}, the form the thread runtime uses between
 * a worker and the main side: the class name, message, stack (the remote worker's), `code` and
 * the other own enumerable properties, and its `cause`; `reviveError` (src/worker/wire-error.ts) makes
 * an `Error` of it again. The {@link FailureKind} says what happened, so that the producer's
 * engine charges the right attempt: `threw` (a `TaskError`), `timeout` (a `TaskTimeoutError`: the
 * item ran past the job's `timeout` and the remote thread running it was stopped), `crashed` (a
 * `WorkerCrashedError`: the remote thread died under this item, `process.exit` or out of memory;
 * its batch-mates were run again on the worker's side and have their own outcomes), `clone` (the
 * item's result cannot be cloned; not worth a retry), `refused` (the worker does not serve the
 * task's module, or inline code without `--allow-inline`; not worth a retry on that worker).
 *
 * ## Cancel
 *
 * The producer publishes {@link encodeCancel}`(stream)` on {@link cancelChannel}`(queue, prefix)`
 * when a stream is unsubscribed: every worker of the queue stops that stream's running jobs (their
 * jobs fail with the reason {@link CANCELLED}) and, for a while ({@link CANCEL_MEMORY_MS}), refuses
 * jobs of that stream that were still waiting. The producer removes the stream's waiting jobs
 * itself.
 */
import { deserialize, serialize } from 'node:v8';
import type { ItemSpan } from '../executor/contract.js';
import type { WireError, WorkSpec } from '../pool/messages.js';
import type { TraceCarrier } from '../pool/trace-context.js';
import { describe, serializeError } from '../worker/wire-error.js';

export type { WireError, WorkSpec } from '../pool/messages.js';

/** The version of this format; a worker refuses jobs of another ({@link FormatError}). */
export const FORMAT_VERSION = 4;

/**
 * The largest job data `rxpool worker` takes, in bytes of its JSON text as Redis holds it: a
 * larger job fails at once, unread, and is removed.
 */
export const MAX_JOB_BYTES = 32 * 1024 * 1024;

/** The largest `maxBatchBytes` a producer takes: its jobs then stay under {@link MAX_JOB_BYTES}. */
export const MAX_BATCH_BYTES = 16 * 1024 * 1024;

/** The name of every batch job. */
export const JOB_NAME = 'rxpool-batch';

/** The `failedReason` of a job stopped by a cancel message. */
export const CANCELLED = 'rxpool: cancelled: its stream was unsubscribed';

/** How long a worker remembers a cancelled stream, to refuse its jobs that were still waiting. */
export const CANCEL_MEMORY_MS = 10 * 60_000;

/** A batch job's data, as the producer adds it (`queue.add(JOB_NAME, data, { jobId })`). */
export interface BatchJobData {
  /** {@link FORMAT_VERSION}. */
  readonly v: number;
  /**
   * The stream the batch belongs to: what a cancel message names. Unique among all the streams
   * of every producer of the queue (the cancel channel is the queue's).
   */
  readonly stream: string;
  /**
   * What runs: `{ kind: 'module', url, name }` (the `task(...)` reference: the module's `file:`
   * URL on the producer's machine and the export's name) or `{ kind: 'inline', source }`. The
   * worker matches the URL to a module it serves (see README "rxpool worker").
   */
  readonly work: WorkSpec;
  /** The time limit of each item, in ms, enforced by the worker; `null` for none. */
  readonly timeout: number | null;
  /** How many items {@link BatchJobData.inputs} holds. */
  readonly count: number;
  /**
   * Where the items come from in the producer's stream (source index and attempt of runs of
   * them), for each task's `context.index` and `context.attempt`.
   */
  readonly spans: readonly ItemSpan[];
  /** The items, an array, `v8.serialize`d, base64 ({@link encodeValues}). */
  readonly inputs: string;
  /**
   * The caller's trace context of each item (W3C `traceparent`/`tracestate` headers, an object
   * for item `i` at `i`, shared by items with the same), `v8.serialize`d, base64; absent when no
   * item has one. A worker without it runs the items without their callers' context.
   */
  readonly traces?: string;
  /**
   * A flat batch (`parallelFlatMap`): each item's outcome (in the job's data once it ran) is the
   * array of its values, at most `maxValues` of them (an item that gives more fails, after those).
   */
  readonly flat?: { readonly maxValues: number };
}

/**
 * The most values one item of a flat batch may give in one job: they travel back together in the
 * job's outcomes, through Redis (an endless generator must not fill the worker's memory).
 */
export const FLAT_JOB_MAX_VALUES = 100_000;

/** What happened to an item that failed. */
export type FailureKind = 'threw' | 'timeout' | 'crashed' | 'clone' | 'refused';

/** A failed item in a {@link BatchJobResult}: its position in the job's inputs, and what happened. */
export interface ItemFailureWire {
  readonly index: number;
  readonly kind: FailureKind;
  readonly error: WireError;
}

/**
 * A batch job's outcomes, in the job's data once it ran. The values of the items that succeeded and the failures travel
 * apart, so that a batch of plain results is one plain array: v8's serializer writes an array
 * of numbers far faster than as many `{ ok, value }` objects, and reads it back as fast (issue
 * 13's trivial items spent most of the producer's time reading those objects back).
 */
export interface BatchJobResult {
  /** {@link FORMAT_VERSION}. */
  readonly v: number;
  /**
   * `v8.serialize`d, base64: `[values, failures]`. `values` is an array as long as the inputs,
   * the result of item `i` at `i` (`undefined` where the item failed); `failures` is an array of
   * {@link ItemFailureWire}, or `null` when every item succeeded.
   */
  readonly outcomes: string;
  /** Time the worker spent on the batch, in ms (its own clock: a duration, not a time). */
  readonly ms: number;
  /** Which worker ran it: `<hostname>:<pid>`. */
  readonly worker: string;
}

/**
 * A batch job's return value: only that its outcomes are in the job's data (a
 * {@link BatchJobResult} there).
 */
export interface BatchJobDone {
  /** {@link FORMAT_VERSION}. */
  readonly v: number;
  /** Which worker ran it: `<hostname>:<pid>`. */
  readonly worker: string;
}

/** A batch's outcomes as the worker collects them and the producer reads them. */
export interface BatchOutcomes {
  /** The result of item `i` at `i`; anything where item `i` failed (its failure says). */
  readonly values: unknown[];
  /** The failed items, in any order; `null` or empty when none failed. */
  readonly failures: ItemFailureWire[] | null;
}

/** The job's data or result is not of this format (another version, or malformed). */
export class FormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FormatError';
  }
}

/**
 * Values as a base64 string of `v8.serialize` (structured-clone semantics). Throws the
 * serializer's error (`DataCloneError`-like) when a value cannot be serialized.
 */
export function encodeValues(values: readonly unknown[]): string {
  return serialize(values).toString('base64');
}

/**
 * The values that {@link encodeValues} encoded. With `count`, the values must be that many, and
 * the claim is checked against the bytes before anything is decoded: every value of an array
 * takes at least one byte of v8's serialization, so a count above the bytes is a lie (a sparse
 * array of 200,000,000 holes takes a few bytes, and a loop over its length would exhaust the
 * worker).
 */
export function decodeValues(text: string, count?: number): unknown[] {
  const bytes = Buffer.from(text, 'base64');
  if (count !== undefined && count > bytes.length) {
    throw new FormatError(
      `the job's count says ${count} items, more than its ${bytes.length} bytes of inputs can hold`,
    );
  }
  let values: unknown;
  try {
    values = deserialize(bytes);
  } catch (error) {
    throw new FormatError(`the encoded values cannot be read: ${(error as Error).message}`);
  }
  if (!Array.isArray(values)) throw new FormatError('the encoded values are not an array');
  if (count !== undefined && values.length !== count) {
    throw new FormatError(`the job holds ${values.length} inputs, its count says ${count}`);
  }
  return values;
}

/** Makes the data of a batch job. */
export function encodeBatch(batch: {
  readonly stream: string;
  readonly work: WorkSpec;
  readonly timeout: number | undefined;
  /** Where the items come from; default: one run from index 0, first attempt. */
  readonly spans?: readonly ItemSpan[];
  readonly inputs: readonly unknown[];
  readonly traces?: readonly (TraceCarrier | undefined)[] | undefined;
  readonly flat?: boolean;
}): BatchJobData {
  const data: BatchJobData = {
    v: FORMAT_VERSION,
    stream: batch.stream,
    work: batch.work,
    timeout: batch.timeout ?? null,
    count: batch.inputs.length,
    spans: firstSpans(
      batch.spans ?? [{ index: 0, count: batch.inputs.length, attempt: 1 }],
      batch.inputs.length,
    ),
    inputs: encodeValues(batch.inputs),
  };
  const traced = batch.traces ? { ...data, traces: encodeValues(batch.traces) } : data;
  return batch.flat ? { ...traced, flat: { maxValues: FLAT_JOB_MAX_VALUES } } : traced;
}

/** The spans of the first `count` items. */
function firstSpans(spans: readonly ItemSpan[], count: number): ItemSpan[] {
  const first: ItemSpan[] = [];
  for (const span of spans) {
    if (count <= 0) break;
    first.push(span.count <= count ? span : { ...span, count });
    count -= span.count;
  }
  return first;
}

function isSpans(value: unknown, count: number): value is ItemSpan[] {
  if (!Array.isArray(value)) return false;
  let total = 0;
  for (const span of value as Partial<ItemSpan>[]) {
    const { index, count: n, attempt } = span ?? {};
    if (!(Number.isInteger(index) && index! >= 0 && Number.isInteger(n) && n! >= 1)) return false;
    if (!(Number.isInteger(attempt) && attempt! >= 1)) return false;
    total += n!;
  }
  return total === count;
}

/** A batch job's data, checked and decoded; throws a {@link FormatError} when it is not one. */
export function decodeBatch(data: unknown): {
  readonly stream: string;
  readonly work: WorkSpec;
  readonly timeout: number | undefined;
  readonly spans: readonly ItemSpan[];
  readonly inputs: unknown[];
  readonly traces?: (TraceCarrier | undefined)[];
  readonly flat: { readonly maxValues: number } | undefined;
} {
  const d = data as Partial<BatchJobData> | null;
  if (d === null || typeof d !== 'object') throw new FormatError('the job data is not an object');
  if (d.v !== FORMAT_VERSION) {
    throw new FormatError(
      `the job is of format version ${String(d.v)}; this worker reads version ${FORMAT_VERSION} ` +
        '(run the same rxpool version on the producer and the workers)',
    );
  }
  if (typeof d.stream !== 'string') throw new FormatError('the job has no stream id');
  const work = d.work as WorkSpec | undefined;
  const workOk =
    work !== undefined &&
    ((work.kind === 'module' && typeof work.url === 'string' && typeof work.name === 'string') ||
      (work.kind === 'inline' && typeof work.source === 'string'));
  if (!workOk) throw new FormatError('the job has no valid work spec');
  if (work.spread !== undefined && work.spread !== true) {
    throw new FormatError("the job's work has a `spread` flag that is not true");
  }
  if (d.timeout !== null && !(typeof d.timeout === 'number' && d.timeout > 0)) {
    throw new FormatError(`the job's timeout is not a number above 0 or null`);
  }
  if (typeof d.inputs !== 'string') throw new FormatError('the job has no encoded inputs');
  if (typeof d.count !== 'number' || !Number.isSafeInteger(d.count) || d.count < 0) {
    throw new FormatError("the job's count is not an integer >= 0");
  }
  const flat = d.flat;
  if (flat !== undefined && !(Number.isInteger(flat?.maxValues) && flat.maxValues >= 1)) {
    throw new FormatError("the job's flat.maxValues is not an integer from 1 up");
  }
  const inputs = decodeValues(d.inputs, d.count);
  if (!isSpans(d.spans, inputs.length)) {
    throw new FormatError(`the job's spans do not describe its ${inputs.length} inputs`);
  }
  const batch = {
    stream: d.stream,
    work,
    timeout: d.timeout ?? undefined,
    spans: d.spans,
    inputs,
    flat,
  };
  return typeof d.traces === 'string'
    ? { ...batch, traces: decodeValues(d.traces) as (TraceCarrier | undefined)[] }
    : batch;
}

/**
 * Makes a batch job's outcomes. A value that cannot be serialized (a function hidden in a
 * result the thread could clone, a host object) becomes a `clone` failure of its item alone.
 */
export function encodeResult(outcomes: BatchOutcomes, ms: number, worker: string): BatchJobResult {
  const failures = outcomes.failures?.length ? outcomes.failures : null;
  let encoded: string;
  try {
    encoded = encodeValues([outcomes.values, failures]);
  } catch {
    const values = outcomes.values.slice();
    const all = failures ? failures.slice() : [];
    const failed = new Set(all.map((failure) => failure.index));
    for (let i = 0; i < values.length; i++) {
      if (failed.has(i)) continue;
      try {
        serialize(values[i]);
      } catch (error) {
        values[i] = undefined;
        all.push({
          index: i,
          kind: 'clone',
          error: wireError(
            'DataCloneError',
            `The result cannot be serialized to be sent back through Redis: ${(error as Error).message}`,
            'clone',
          ),
        });
      }
    }
    encoded = encodeValues([values, all]);
  }
  return { v: FORMAT_VERSION, outcomes: encoded, ms, worker };
}

/**
 * A batch job's outcomes read back (the job's data once it completed): the values and the failures as {@link encodeResult}
 * took them. Throws a {@link FormatError} when it is not one, or not for `count` inputs.
 */
export function readResult(result: unknown, count: number): BatchOutcomes {
  const r = result as Partial<BatchJobResult> | null;
  if (r === null || typeof r !== 'object' || r.v !== FORMAT_VERSION) {
    throw new FormatError(`the job's result is not of format version ${FORMAT_VERSION}`);
  }
  if (typeof r.outcomes !== 'string') throw new FormatError("the job's result has no outcomes");
  const [values, failures] = decodeValues(r.outcomes) as [unknown, unknown];
  if (!Array.isArray(values) || (failures !== null && !Array.isArray(failures))) {
    throw new FormatError("the job's result is not [values, failures]");
  }
  if (values.length !== count) {
    throw new FormatError(`the job's result holds ${values.length} outcomes for ${count} inputs`);
  }
  for (const failure of (failures ?? []) as ItemFailureWire[]) {
    const ok =
      failure !== null &&
      typeof failure === 'object' &&
      Number.isInteger(failure.index) &&
      failure.index >= 0 &&
      failure.index < count &&
      typeof failure.kind === 'string' &&
      failure.error !== null &&
      typeof failure.error === 'object';
    if (!ok) throw new FormatError("the job's result holds a malformed failure");
  }
  return { values, failures: failures as ItemFailureWire[] | null };
}

/**
 * An error as a {@link WireError}, as the thread runtime's worker side makes it: the name, the
 * message, the stack, the own enumerable properties (`code` among them, inherited too), and the
 * cause, down to 8 levels. A property that cannot be serialized travels as its description.
 */
export function toWireError(thrown: unknown): WireError {
  // The worker side's own serialization; what travels as it is must survive v8's serializer.
  return serializeError(thrown, undefined, (value) =>
    serializable(value) ? undefined : describe(value),
  );
}

/** A {@link WireError} made here (not thrown by a task), with no stack of its own. */
export function wireError(
  name: string,
  message: string,
  fatal: WireError['fatal'],
  hint?: string,
): WireError {
  return {
    name,
    message,
    stack: undefined,
    props: {},
    nonError: false,
    cause: undefined,
    fatal,
    hint,
  };
}

/** The Redis pub/sub channel on which a queue's workers take cancel messages. */
export function cancelChannel(queue: string, prefix = 'bull'): string {
  return `${prefix}:${queue}:rxpool:cancel`;
}

/** A cancel message: stop the running jobs of `stream`, and refuse its waiting ones. */
export function encodeCancel(stream: string): string {
  return JSON.stringify({ v: FORMAT_VERSION, stream });
}

/** The stream a cancel message names, or `undefined` when it is not one. */
export function decodeCancel(message: string): string | undefined {
  try {
    const parsed = JSON.parse(message) as { v?: unknown; stream?: unknown };
    return parsed.v === FORMAT_VERSION && typeof parsed.stream === 'string'
      ? parsed.stream
      : undefined;
  } catch {
    return undefined;
  }
}

function serializable(value: unknown): boolean {
  try {
    serialize(value);
    return true;
  } catch {
    return false;
  }
}

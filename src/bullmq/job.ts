/**
 * The batch half of the job format of rxpool's BullMQ jobs (./result.ts has the outcome half),
 * shared by the producer (`bullmqExecutor`) and the consumer (`rxpool worker`). It imports
 * nothing from BullMQ, so both sides and the tests can use it alone.
 *
 * ## A batch is a job
 *
 * One job carries one batch: several items of the same work. Every launch of a batch, a retry
 * too, is a job of its own with its own job id (the producer chooses it): a late finish of an old
 * launch can then never be mistaken for the new one. The job's name is {@link JOB_NAME}; its data
 * is a {@link BatchJobData}. The worker writes the batch's outcomes (a `BatchJobResult`) into the
 * job's data in place of the inputs, then completes the job with a small `BatchJobDone` as its
 * return value: BullMQ copies a completed job's return value into the queue's events stream,
 * which keeps it until the stream is trimmed (by thousands of events, approximately), so results
 * returned there would pile up in Redis from run to run; the job's data goes when the producer
 * removes the job. A job completes (BullMQ's `completed`) whenever the worker ran it, whatever
 * its items did: failures are per item, in the result. A job fails (BullMQ's `failed`) only when
 * it could not be run as a batch at all: data of another format version ({@link FormatError}),
 * cancelled through the {@link cancelChannel}, or stalled.
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
 * every control byte six in JSON); bench/bullmq-payload.ts compares the encodings.
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
import type { TraceCarrier, WorkSpec } from '../wire/work.js';

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

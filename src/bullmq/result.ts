/**
 * The outcome half of the job format (./job.ts has the batch half): what `rxpool worker` writes
 * into a job's data once it ran the batch, and how the producer reads it back.
 *
 * ## Errors
 *
 * A failed item's error travels as a {@link WireError}, the form the thread runtime uses between
 * a worker and the main side: the class name, message, stack (the remote worker's), `code` and
 * the other own enumerable properties, its `cause`, and the advice (`hint`) its `TaskError`
 * carries; `reviveError` (src/wire/error.ts) makes an `Error` of it again. The
 * {@link FailureKind} says what happened, so that the producer's engine charges the right
 * attempt: `threw` (a `TaskError`), `timeout` (a `TaskTimeoutError`: the item ran past the job's
 * `timeout` and the remote thread running it was stopped), `crashed` (a `WorkerCrashedError`: the
 * remote thread died under this item, `process.exit` or out of memory; its batch-mates were run
 * again on the worker's side and have their own outcomes), `clone` (the item's result cannot be
 * cloned; not worth a retry), `refused` (the worker does not serve the task's module, or inline
 * code without `--allow-inline`; not worth a retry on that worker).
 */
import { serialize } from 'node:v8';
import { describe, serializeError } from '../wire/error.js';
import type { WireError } from '../wire/messages.js';
import { decodeValues, encodeValues, FORMAT_VERSION, FormatError } from './job.js';

export type { WireError } from '../wire/messages.js';

/** What happened to an item that failed. */
export type FailureKind = 'threw' | 'timeout' | 'crashed' | 'clone' | 'refused';

/** A failed item in a {@link BatchJobResult}: its position in the job's inputs, and what happened. */
export interface ItemFailureWire {
  readonly index: number;
  readonly kind: FailureKind;
  readonly error: WireError;
}

/**
 * A batch job's outcomes, in the job's data once it ran. The values of the items that succeeded
 * and the failures travel apart, so that a batch of plain results is one plain array: v8's
 * serializer writes an array of numbers far faster than as many `{ ok, value }` objects, and
 * reads it back as fast (for trivial items, reading such objects back is most of the producer's
 * work).
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

function serializable(value: unknown): boolean {
  try {
    serialize(value);
    return true;
  } catch {
    return false;
  }
}

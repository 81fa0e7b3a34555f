/**
 * A batch as one job that fits the producer's `maxBatchBytes`: the engine sizes batches by
 * count and time, not bytes, so the executor sends the batch's first items that fit and the
 * engine sends the rest again in later batches.
 */
import { serialize } from 'node:v8';
import type { BatchOutcome, ExecutorBatch } from '../executor/contract.js';
import { type BatchJobData, encodeBatch } from './job.js';

/** The job data of the batch's first `count` items, or the outcome when none can go. */
export type Fitted =
  | { readonly count: number; readonly data: BatchJobData }
  | { readonly outcome: BatchOutcome };

/**
 * The job data of the batch's first items whose encoded inputs take at most `max` bytes. An item
 * that does not fit alone is refused with a `RangeError`; items that cannot be serialized are
 * each blamed with the serializer's error.
 */
export function fitBatch(batch: ExecutorBatch, stream: string, max: number): Fitted {
  const { inputs } = batch;
  let count = inputs.length;
  for (;;) {
    let data: BatchJobData;
    try {
      data = encodeBatch({
        stream,
        work: batch.work,
        timeout: batch.timeout,
        spans: batch.spans,
        inputs: count === inputs.length ? inputs : inputs.slice(0, count),
        traces: count === inputs.length ? batch.traces : batch.traces?.slice(0, count),
        flat: batch.flat !== undefined,
      });
    } catch {
      return { outcome: blameUnserializable(inputs.slice(0, count)) };
    }
    const bytes = data.inputs.length;
    if (bytes <= max) return { count, data };
    if (count === 1) {
      const error = new RangeError(
        `The item is ${bytes} bytes once encoded, over the executor's maxBatchBytes of ${max}: ` +
          'it cannot go as a job to Redis (raise maxBatchBytes, or send a reference to the data)',
      );
      return { outcome: { type: 'unsendable', blamed: new Map([[0, error]]) } };
    }
    // Aim a little under the limit, so that the next try usually fits.
    count = Math.max(1, Math.min(count - 1, Math.floor((count * max * 0.9) / bytes)));
  }
}

/** The items that cannot be serialized, each blamed with the serializer's error. */
function blameUnserializable(inputs: readonly unknown[]): BatchOutcome {
  const blamed = new Map<number, Error>();
  inputs.forEach((input, i) => {
    try {
      serialize(input);
    } catch (error) {
      blamed.set(i, error instanceof Error ? error : new Error(String(error)));
    }
  });
  return { type: 'unsendable', blamed: blamed.size > 0 ? blamed : undefined };
}

/**
 * A batch job's result read item by item, for tests that check each item: the executor reads
 * values and failures apart (`readResult`, src/bullmq/job.ts).
 */
import { type FailureKind, readResult, type WireError } from '../../src/bullmq/result.js';

/** An item's outcome. */
export type ItemOutcome =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly kind: FailureKind; readonly error: WireError };

/** A batch job's return value as one {@link ItemOutcome} per input. */
export function decodeResult(result: unknown, count: number): ItemOutcome[] {
  const { values, failures } = readResult(result, count);
  const outcomes: ItemOutcome[] = values.map((value) => ({ ok: true, value }));
  for (const { index, kind, error } of failures ?? []) outcomes[index] = { ok: false, kind, error };
  return outcomes;
}

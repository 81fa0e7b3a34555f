/**
 * The reconcile decision: what a job's state in Redis, or an entry of the events stream, says
 * about the batch it carries, and the batch's outcome that follows. Pure: the executor reads the
 * state (./launches.ts) and applies what this decides.
 *
 * What a job's state means:
 * - completed: its data holds one outcome per item (`done`, per-item failures with their kind);
 * - `stalledCounter > 0` or failed as stalled: its worker died (`crashed`, position unknown: a
 *   worker that dies takes the knowledge of which item killed it along). BullMQ 6.7 with
 *   `maxStalledCount: 0` puts such a job back in `wait` with a deferred failure that only the next
 *   worker to take it applies, so the counter, not the failure, is what tells;
 * - failed as cancelled: `aborted`; failed for another reason (a worker of another format
 *   version): `unsendable`, every item blamed, with the worker's reason;
 * - gone (Redis restarted without persistence, or someone removed it): `lost`, all go again.
 */
import type { BatchOutcome, ItemFailure, ValuesListener } from '../executor/contract.js';
import { reviveError } from '../wire/error.js';
import type { JobEvent } from './events.js';
import { CANCELLED } from './job.js';
import { type BatchOutcomes, type ItemFailureWire, readResult } from './result.js';

/** The stalled reason of BullMQ 6.7 (`Worker.getUnrecoverableErrorMessage`'s text). */
export const STALLED_REASON = 'stalled more than allowable limit';

/** The fields of a BullMQ `Job` that the decision reads. */
export interface JobState {
  readonly finishedOn?: number | undefined;
  readonly failedReason?: string | undefined;
  readonly stalledCounter: number;
  readonly processedOn?: number | undefined;
  /** The worker that took it (`<hostname>:<pid>`, the name `rxpool worker` gives BullMQ). */
  readonly processedBy?: string | undefined;
  readonly data: unknown;
}

/** What is known of a batch's job. */
export type Verdict =
  /** Nothing new: it waits for a worker. */
  | { readonly type: 'waiting' }
  /** A worker runs it. */
  | { readonly type: 'active' }
  /** It ran: its outcomes are in its data. */
  | { readonly type: 'completed'; readonly result: unknown }
  /** It ran: its outcomes are in its data, which only a read of the job gives (an event). */
  | { readonly type: 'fetch' }
  /** Its worker died under it. */
  | { readonly type: 'crashed'; readonly worker: string | undefined }
  /** A cancel message stopped it. */
  | { readonly type: 'aborted' }
  /** A worker would not run it, for `reason`. */
  | { readonly type: 'refused'; readonly reason: string }
  /** It is not in Redis. */
  | { readonly type: 'lost' };

/** What the state of a batch's job (`undefined`: there is none) says. */
export function judgeJob(job: JobState | undefined): Verdict {
  if (job === undefined) return { type: 'lost' };
  if (job.finishedOn) {
    return job.failedReason
      ? judgeFailure(job.failedReason, job.processedBy)
      : { type: 'completed', result: job.data };
  }
  if (job.stalledCounter > 0) return { type: 'crashed', worker: job.processedBy };
  if (job.processedOn) return { type: 'active' };
  return { type: 'waiting' };
}

/** What an event of the queue's events stream says; `undefined` for events of no meaning here. */
export function judgeEvent(event: JobEvent): Verdict | undefined {
  switch (event.event) {
    case 'completed':
      return { type: 'fetch' };
    case 'failed':
      return judgeFailure(event.failedReason ?? '', undefined);
    case 'stalled':
      return { type: 'crashed', worker: undefined };
    case 'active':
      return { type: 'active' };
    default:
      return undefined;
  }
}

/** What a failed job's reason says. */
export function judgeFailure(reason: string, worker: string | undefined): Verdict {
  if (reason.includes(STALLED_REASON)) return { type: 'crashed', worker };
  if (reason === CANCELLED) return { type: 'aborted' };
  return { type: 'refused', reason };
}

/**
 * The outcome of a batch of `count` items whose job completed with `result`: one per item; `null`
 * when the result cannot be read (the caller blames every item). `now - sentAt` less the worker's
 * own time is what the batch waited (in the queue and in transit). A flat batch's `values`
 * listener gets each item's values, then its end, in order, before the outcome is reported.
 */
export function completedOutcome(
  result: unknown,
  count: number,
  sentAt: number,
  now: number,
  values?: ValuesListener,
): BatchOutcome {
  let outcomes: BatchOutcomes;
  try {
    outcomes = readResult(result, count);
  } catch (error) {
    return blameAll(count, new Error(`unreadable job result: ${message(error)}`));
  }
  let failures: (ItemFailure | undefined)[] | null = null;
  for (const item of outcomes.failures ?? []) {
    failures ??= new Array<ItemFailure | undefined>(count);
    failures[item.index] = itemFailure(item);
  }
  if (values) {
    for (let p = 0; p < count; p++) {
      const given = outcomes.values[p];
      values(p, Array.isArray(given) ? given : [], { failure: failures?.[p] });
    }
  }
  const { ms, worker } = result as { ms?: unknown; worker?: unknown };
  const took = typeof ms === 'number' && ms >= 0 ? ms : 0;
  return {
    type: 'done',
    values: outcomes.values,
    failures,
    count,
    ms: took,
    waitedMs: Math.max(0, now - sentAt - took),
    ...(typeof worker === 'string' ? { workerId: worker } : {}),
  };
}

/** The outcome of a batch whose worker refused its job: every item blamed with the reason. */
export function refusedOutcome(count: number, reason: string): BatchOutcome {
  return blameAll(count, new Error(`the worker refused the job: ${reason}`));
}

/** The outcome of a batch whose worker died under it: it goes again, whole. */
export function crashedOutcome(worker: string | undefined): BatchOutcome {
  const error = new Error(
    `The rxpool worker running this batch${worker ? ` (${worker})` : ''} stopped answering ` +
      `(its job stalled: the worker process died or lost Redis); the batch goes again`,
  );
  error.name = 'WorkerCrashedError';
  return { type: 'crashed', error, position: undefined };
}

/** Every one of `count` items blamed with `error`: none can be sent. */
export function blameAll(count: number, error: Error): BatchOutcome {
  return {
    type: 'unsendable',
    blamed: new Map(Array.from({ length: count }, (_, i) => [i, error])),
  };
}

/** A failed item of a job's result as the engine takes it: which attempts it is charged as. */
function itemFailure(item: ItemFailureWire): ItemFailure {
  const error = reviveError(item.error);
  const hint = item.error.hint;
  const base = hint === undefined ? {} : { hint };
  switch (item.kind) {
    case 'timeout':
    case 'crashed':
      return { error, kind: item.kind, retryable: true, ...base };
    case 'threw':
      return { error, kind: 'threw', retryable: true, ...base };
    default:
      // 'clone' (the result cannot be sent back) and 'refused' (the worker does not serve it):
      // trying again cannot help.
      return { error, kind: 'threw', retryable: false, ...base };
  }
}

export function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

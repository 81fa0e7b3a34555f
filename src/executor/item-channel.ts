/**
 * The `rxpool:item` tracing channel (`node:diagnostics_channel`): every attempt of an item, on the
 * caller's side, whatever the executor. The engine publishes; the channel costs a few property
 * reads a batch while nothing subscribes.
 */
import { type TracingChannel, tracingChannel } from 'node:diagnostics_channel';

/** The name of the channel: `diagnostics_channel.tracingChannel('rxpool:item')`. */
export const ITEM_CHANNEL = 'rxpool:item';

/**
 * The context object of an attempt's events on the `rxpool:item` tracing channel: the same
 * object from `start` to `asyncEnd`, filled in as the attempt goes.
 *
 * _What a subscriber sees of each attempt of an item: which item, which attempt, which worker,
 * and how it ended._
 *
 * `start` and `end` come when the item's batch is handed to the executor (`end` right after
 * `start`: nothing of an item runs synchronously); `asyncStart` and `asyncEnd` when the attempt's
 * outcome is back on the caller's side, after `error` if it failed.
 *
 * ## Example
 * ```ts
 * import diagnostics_channel from 'node:diagnostics_channel';
 * import type { ItemTrace } from 'rxpool';
 *
 * const started = new Map<ItemTrace, number>();
 * diagnostics_channel.tracingChannel<ItemTrace>('rxpool:item').subscribe({
 *   start: (trace) => started.set(trace, performance.now()),
 *   asyncEnd: (trace) => {
 *     console.log(trace.index, trace.attempt, trace.workerId, trace.error === undefined);
 *     started.delete(trace);
 *   },
 * });
 * // Output (for each attempt):
 * // 0 1 1 true
 * ```
 */
export interface ItemTrace {
  /** The item's position in its source (0-based). */
  readonly index: number;
  /** Which attempt this is, from 1 (a retry is the next). */
  readonly attempt: number;
  /**
   * The worker that ran the attempt, once known (set before `asyncStart`): a thread's
   * `threadId`, a process's `pid`, an `rxpool worker`'s `<hostname>:<pid>`; `undefined` when the
   * executor does not say, or the attempt did not run.
   */
  workerId: number | string | undefined;
  /** The task's result, when the attempt succeeded (set before `asyncStart`). */
  result?: unknown;
  /**
   * Why the attempt failed (set before `error`): the item's `TaskError` (or `TaskTimeoutError`,
   * `WorkerCrashedError`), whether or not it is retried; an `AbortError` when the stream was
   * unsubscribed or the pool destroyed while the attempt was out.
   */
  error?: unknown;
  /**
   * The attempt did not run, or did not count, and the item goes again under the same attempt
   * number: a batch-mate crashed the worker, the worker was retired, the batch could not be sent
   * whole (set before `asyncStart`, with no `error`).
   */
  again?: true;
}

/** The channel itself. */
export const itemChannel: TracingChannel<ItemTrace, ItemTrace> =
  tracingChannel<ItemTrace>(ITEM_CHANNEL);

/** Whether anything listens to the channel now (read once a batch). */
export function itemTracing(): boolean {
  const { start, end, asyncStart, asyncEnd, error } = itemChannel;
  return (
    start.hasSubscribers ||
    end.hasSubscribers ||
    asyncStart.hasSubscribers ||
    asyncEnd.hasSubscribers ||
    error.hasSubscribers
  );
}

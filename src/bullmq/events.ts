/**
 * The fast path to a batch's outcome: the queue's BullMQ events stream, where BullMQ writes
 * `completed`, `failed`, `stalled` and `active` with the job's id. Read with blocking `XREAD`s of
 * our own rather than BullMQ's `QueueEvents`: on a lost connection BullMQ 6.7's reader waits on
 * timers of its own (a watchdog of its block time plus 1 s per read, 5 s between attempts) that
 * keep a closed producer's process alive for seconds; ours hold nothing once the client has
 * ended. The stream is capped and loses entries, and a Redis restart loses all of it: what it
 * misses, the reconcile pass finds (./reconcile.ts).
 */
import type { Redis } from 'ioredis';

/** The server-side block of each read of the events stream, in ms. */
const EVENTS_BLOCK_MS = 5000;

/** One entry of the events stream, as far as rxpool reads it. */
export interface JobEvent {
  /** BullMQ's event name: `completed`, `failed`, `stalled`, `active`, and others. */
  readonly event: string | undefined;
  readonly jobId: string | undefined;
  /** A `failed` event's reason. */
  readonly failedReason: string | undefined;
}

/** An entry's fields (`[name, value, name, value, ...]`, as `XREAD` gives them) as an event. */
export function parseEvent(fields: readonly string[]): JobEvent {
  let event: string | undefined;
  let jobId: string | undefined;
  let failedReason: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i];
    if (name === 'event') event = fields[i + 1];
    else if (name === 'jobId') jobId = fields[i + 1];
    else if (name === 'failedReason') failedReason = fields[i + 1];
  }
  return { event, jobId, failedReason };
}

/** What the reader tells its owner. */
export interface EventsHandler {
  /** The owner is closing: the reader ends at its next turn. */
  readonly stopping: () => boolean;
  readonly event: (event: JobEvent) => void;
  /** A read failed (Redis out of reach): the reader tries again shortly. */
  readonly problem: (error: unknown) => void;
}

/**
 * Reads the events stream at `key` from now on until `handler.stopping()`. Events missed while
 * Redis is out of reach are no loss: the reconcile pass after a reconnect reads every job.
 */
export async function readEvents(
  client: Redis,
  key: string,
  handler: EventsHandler,
): Promise<void> {
  let last = '$';
  while (!handler.stopping()) {
    let reply: [string, [string, string[]][]][] | null;
    try {
      reply = (await client.xread('BLOCK', EVENTS_BLOCK_MS, 'STREAMS', key, last)) as typeof reply;
    } catch (error) {
      if (handler.stopping()) return;
      handler.problem(error);
      await new Promise((resolve) => setTimeout(resolve, 100).unref());
      continue;
    }
    for (const [, entries] of reply ?? []) {
      for (const [id, fields] of entries) {
        last = id;
        handler.event(parseEvent(fields));
      }
    }
  }
}

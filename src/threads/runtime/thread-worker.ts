/**
 * The thread runtime's link to one worker (piscina's `WorkerInfo`): the `MessagePort` the worker
 * takes its batches on for the rest of its life, the batches it holds, the idle timer that retires
 * it, the grace a cancelled batch gets before its worker is stopped, and its shutdown. The thread
 * pool decides what goes where (see Placement); a link only carries it.
 */
import { type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import { reviveError } from '../../wire/error.js';
import type {
  Abort,
  BroadcastReply,
  ControlRef,
  FlatControl,
  FlatValues,
  LinkBroadcast,
  LinkReply,
  TearDown,
  TornDown,
} from '../../wire/messages.js';
import { TEARDOWN_MS } from '../../wire/messages.js';
import { FLAT_CANCEL_GRACE_MS } from '../executor.js';
import type { InFlightBatch } from '../in-flight.js';
import { reportTeardown } from '../outcomes.js';

/**
 * How long a running batch that was cancelled (`abort('cancel')`) has to answer before its worker
 * is stopped: the worker reads the cancel cell between items, so a batch of short items answers
 * within a message's round trip, and its worker is kept.
 */
export const CANCEL_GRACE_MS = 10;

/** How long past a worker's own teardown limit the main side waits for its answer. */
const TEARDOWN_MARGIN_MS = 100;

export class WorkerLink {
  /** Batches posted and not answered, by id, in the order they were posted. */
  readonly batches = new Map<number, InFlightBatch>();
  /**
   * Control rows of batches that moved to another link before they started, by batch id: taken
   * until this worker has skipped them (it answers each).
   */
  readonly moved = new Map<number, ControlRef>();
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(
    readonly threadId: number,
    private readonly port: MessagePort,
    /** Handles a reply on the link. */
    private readonly answer: (link: WorkerLink, reply: LinkReply | TornDown | FlatValues) => void,
  ) {
    // A link never holds the process open: the pool's Dispatcher does, while batches are out.
    port.unref();
  }

  /** Batches posted and not answered. */
  get held(): number {
    return this.batches.size;
  }

  /** Posts a batch; throws what posting threw (an input that cannot be cloned). */
  post(batch: InFlightBatch): void {
    this.stopIdleTimer();
    this.port.postMessage(batch.request, batch.transferList ?? []);
    this.batches.set(batch.id, batch);
  }

  /** Credit or a stop for a flat batch it holds. */
  send(message: FlatControl): void {
    if (!this.closed) this.port.postMessage(message);
  }

  /** Reads the replies that arrived and were not read yet (the main thread was busy). */
  readQueued(until?: () => boolean): void {
    for (
      let queued = receiveMessageOnPort(this.port);
      queued;
      queued = receiveMessageOnPort(this.port)
    ) {
      this.answer(this, queued.message as LinkReply | TornDown | FlatValues);
      if (until?.()) return;
    }
  }

  /** Calls `retire` once the link has held no batch for `ms` (a finite `idleTimeout`). */
  retireWhenIdle(ms: number, retire: () => void): void {
    if (this.batches.size > 0 || !Number.isFinite(ms) || this.closed) return;
    this.stopIdleTimer();
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.batches.size === 0) retire();
    }, ms);
    this.idleTimer.unref();
  }

  /** Broadcasts sent on the link and not answered, by id. */
  private readonly broadcasts = new Map<number, (reply: BroadcastReply) => void>();

  /** Runs a broadcast's work on this worker (after its batches); resolves with its answer. */
  broadcast(request: LinkBroadcast['broadcastNow']): Promise<BroadcastReply> {
    return new Promise((resolve) => {
      if (this.closed) {
        resolve(gone(request.id, this.threadId));
        return;
      }
      this.broadcasts.set(request.id, resolve);
      this.port.postMessage({ broadcastNow: request } satisfies LinkBroadcast);
    });
  }

  /** A {@link BroadcastReply} came on the link. */
  answerBroadcast(reply: BroadcastReply): void {
    this.broadcasts.get(reply.broadcast)?.(reply);
    this.broadcasts.delete(reply.broadcast);
  }

  /** Called with the worker's answer to a {@link TearDown}. */
  private tornDown: ((reply: TornDown) => void) | undefined;

  /** Asks the worker to run its teardown (after its batches); `done` gets its answer. */
  tearDown(done: (reply: TornDown) => void): void {
    if (this.closed) return;
    this.tornDown = done;
    this.port.postMessage({ tearDownNow: true } satisfies TearDown);
  }

  /**
   * Has the worker run its teardown (after the batches it holds); resolves when it has answered,
   * or after the teardown's limit and a margin (a worker stuck in synchronous code never
   * answers). A failure is reported (see `reportTeardown`).
   */
  tearDownWithin(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        reportTeardown(new Error(`A worker's teardown did not finish within ${TEARDOWN_MS} ms`));
        resolve();
      }, TEARDOWN_MS + TEARDOWN_MARGIN_MS);
      timer.unref();
      this.tearDown((reply) => {
        clearTimeout(timer);
        if (reply.error) reportTeardown(reviveError(reply.error));
        resolve();
      });
    });
  }

  /** A {@link TornDown} came on the link: whoever asked for it gets it. */
  answerTearDown(reply: TornDown): void {
    this.tornDown?.(reply);
    this.tornDown = undefined;
  }

  /** Asks the worker to abort batch `id`: its tasks' `signal` fires. */
  abort(id: number, reason: 'cancel' | 'timeout'): void {
    if (!this.closed) this.port.postMessage({ abort: id, reason } satisfies Abort);
  }

  /**
   * Aborts a batch the worker runs (its tasks' `signal` fires), and has `stop` stop the worker if
   * the batch does not answer within its grace.
   */
  abortRunning(
    batch: InFlightBatch,
    reason: 'cancel' | 'timeout',
    abortGrace: number,
    stop: () => void,
  ): void {
    batch.abortedFor = reason;
    this.abort(batch.id, reason);
    if (batch.request.flat !== undefined) {
      // A flat item is told to stop too, which it hears between values: its iterator's
      // `return()` runs in the worker (a generator's `finally` blocks with it) before it answers.
      this.send({ flatKey: batch.id, stop: true });
      this.cancelRunning(batch, Math.max(FLAT_CANCEL_GRACE_MS, abortGrace), stop);
      return;
    }
    // A task that awaits (or a timed batch between its tasks' calls) gets the grace; a cancelled
    // batch of synchronous items answers between items, or is stopped after a short grace.
    const awaits = reason === 'timeout' || batch.control!.awaiting(batch.row);
    this.cancelRunning(batch, awaits ? abortGrace : CANCEL_GRACE_MS, stop);
  }

  /**
   * A running batch was cancelled (its cancel cell is set, and the worker reads it between
   * items): if it has not answered within `graceMs` (a reply that waits to be read counts), `stop`
   * stops the worker (the item running is long).
   */
  private cancelRunning(batch: InFlightBatch, graceMs: number, stop: () => void): void {
    const timer = setTimeout(() => {
      if (this.closed || !this.batches.has(batch.id)) return;
      this.readQueued(() => !this.batches.has(batch.id));
      if (!this.closed && this.batches.has(batch.id)) stop();
    }, graceMs);
    timer.unref();
  }

  /**
   * The worker is gone: the replies it sent before it went count (they are read first), the port
   * closes, and what it still held comes back: its batches, and the rows of those that moved away.
   */
  close(): { batches: InFlightBatch[]; moved: ControlRef[] } {
    this.readQueued();
    this.closed = true;
    this.stopIdleTimer();
    this.port.close();
    const batches = [...this.batches.values()];
    const moved = [...this.moved.values()];
    this.batches.clear();
    this.moved.clear();
    for (const [id, answer] of this.broadcasts) answer(gone(id, this.threadId));
    this.broadcasts.clear();
    this.tornDown?.({ tornDown: true, error: undefined });
    this.tornDown = undefined;
    return { batches, moved };
  }

  private stopIdleTimer(): void {
    if (this.idleTimer === undefined) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}

/** The answer of a worker that stopped before it answered a broadcast. */
function gone(id: number, workerId: number): BroadcastReply {
  return {
    broadcast: id,
    workerId,
    error: {
      name: 'WorkerExit',
      message: 'The worker stopped before it ran the broadcast',
      stack: undefined,
      props: {},
      nonError: false,
      cause: undefined,
      fatal: undefined,
      hint: undefined,
    },
  };
}

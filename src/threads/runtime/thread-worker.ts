/**
 * The thread runtime's link to one worker (piscina's `WorkerInfo`): the `MessagePort` the worker
 * takes its batches on for the rest of its life, the batches it holds, the idle timer that retires
 * it, the grace a cancelled batch gets before its worker is stopped, and its shutdown. The thread
 * pool decides what goes where (see Placement); a link only carries it.
 */
import { type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import type { ControlRef, FlatControl, FlatValues, LinkReply } from '../../pool/messages.js';
import type { InFlightBatch } from '../in-flight.js';

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
    private readonly answer: (link: WorkerLink, reply: LinkReply | FlatValues) => void,
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
      this.answer(this, queued.message as LinkReply | FlatValues);
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

  /**
   * A running batch was cancelled (its cancel cell is set, and the worker reads it between
   * items): if it has not answered within `graceMs` (a reply that waits to be read counts), `stop`
   * stops the worker (the item running is long).
   */
  cancelRunning(batch: InFlightBatch, graceMs: number, stop: () => void): void {
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
    return { batches, moved };
  }

  private stopIdleTimer(): void {
    if (this.idleTimer === undefined) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}

/**
 * The thread runtime's batches that wait: those parked until a link has room (in order: a long
 * batch that waits for an idle link is not passed by the short ones that come after it), and
 * those that wait behind another on their link, moved to an idle link once they have waited too
 * long (Placement's `overdue`). Placement decides; this keeps the queue and the timer.
 */
import type { InFlightBatch } from './in-flight.js';
import { type Placement, STEAL_AFTER_MS } from './placement.js';
import type { WorkerLink } from './runtime/thread-worker.js';

/** What parking asks of the thread executor. */
export interface ParkingMoves {
  /** Posts `batch` on `link`. */
  post(link: WorkerLink, batch: InFlightBatch): void;
  /** Moves `batch`, not started, from one link to another. */
  move(batch: InFlightBatch, from: WorkerLink, to: WorkerLink): void;
}

export class Parking {
  /** Batches that wait for a link to have room (long ones wait for an idle link). */
  private parked: InFlightBatch[] = [];
  /** Looks for batches to move while some wait behind others (see `steal`). */
  private stealTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly placement: Placement,
    /** The links that take batches, by thread id (the executor's). */
    private readonly links: ReadonlyMap<number, WorkerLink>,
    private readonly moves: ParkingMoves,
  ) {}

  /** Whether batches wait for a link. */
  get waiting(): boolean {
    return this.parked.length > 0;
  }

  /** Gives a batch to a link, or parks it behind those that wait already. */
  place(batch: InFlightBatch): void {
    if (this.parked.length > 0 || !this.tryPost(batch)) this.parked.push(batch);
  }

  /** Posts the batches that wait, in order, as far as links have room. */
  unpark(): void {
    while (this.parked.length > 0 && this.tryPost(this.parked[0]!)) this.parked.shift();
  }

  /** Takes `batch` out of the queue; `false` if it was not parked. */
  unparkOne(batch: InFlightBatch): boolean {
    const at = this.parked.indexOf(batch);
    if (at < 0) return false;
    this.parked.splice(at, 1);
    return true;
  }

  /** Empties the queue, and returns what was in it. */
  takeAll(): InFlightBatch[] {
    const parked = this.parked;
    this.parked = [];
    return parked;
  }

  /** No more moves: the executor is closing. */
  stop(): void {
    clearTimeout(this.stealTimer);
  }

  /** Posts a batch where placement says; `false`: no link has room for it. */
  private tryPost(batch: InFlightBatch): boolean {
    const target = this.placement.choose(this.links.values(), batch.short);
    if (target === undefined) return false;
    this.moves.post(target, batch);
    return true;
  }

  /** Batches wait behind others on their links: look again in a while (see `steal`). */
  lookForSteals(): void {
    if (this.stealTimer !== undefined) return;
    this.stealTimer = setTimeout(() => {
      this.stealTimer = undefined;
      this.steal();
    }, STEAL_AFTER_MS);
    this.stealTimer.unref();
  }

  /**
   * Moves each batch that has waited long enough behind another on its link, and has not started,
   * to an idle link: a batch thought short that turns out long (items that got slower) then holds
   * up only itself. With fewer links getting short batches (`activeLinks`), it is also what brings
   * an idle worker back, at once, when they are needed.
   */
  private steal(): void {
    let waiting = false;
    for (const link of [...this.links.values()]) {
      const queued = [...link.batches.values()].slice(1);
      for (const batch of queued) {
        if (batch.aborted || !batch.movable || batch.control!.thread(batch.row) !== 0) continue;
        waiting = true;
        if (!this.placement.overdue(batch.postedAt)) continue;
        const idle = [...this.links.values()].find((other) => other.held === 0);
        if (!idle) continue;
        this.moves.move(batch, link, idle);
      }
    }
    if (waiting) this.lookForSteals();
  }
}

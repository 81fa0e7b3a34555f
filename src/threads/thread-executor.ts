/**
 * The thread runtime of the default executor: each thread worker takes its batches over a link of
 * its own (./runtime/thread-worker.ts, given by a round of hellos: ./hellos.ts); which link takes a
 * batch, and how many batches are out, is Placement's (./placement.ts); a batch's control row
 * (./control-rows.ts) says which item runs, since when, and on which thread, and lets a batch be
 * timed, stopped, or skipped while it waits behind another on its link.
 */
import type {
  BatchOutcome,
  ExecutorBatch,
  RunningBatch,
  ValuesListener,
} from '../executor/contract.js';
import { reviveError } from '../wire/error.js';
import {
  type BroadcastReply,
  type FlatControl,
  type FlatValues,
  isFlatMessage,
  type LinkReply,
  packNumbers,
  type TornDown,
} from '../wire/messages.js';
import type { WorkSpec } from '../wire/work.js';
import { ControlRows } from './control-rows.js';
import { TinypoolExecutor, type WorkersOptions } from './executor.js';
import { Hellos } from './hellos.js';
import type { WorkerHostEvents } from './host-contract.js';
import { cannotStart, finish, type InFlightBatch } from './in-flight.js';
import { RETIRE, STOPPED, unsendable } from './outcomes.js';
import { Parking } from './parking.js';
import { DEPTH, Placement } from './placement.js';
import { CANCEL_GRACE_MS, type WorkerLink } from './runtime/thread-worker.js';

/** The default executor on worker threads (`createPool()`, `runtime: 'thread'`). */
export function threadExecutor(options: WorkersOptions): TinypoolExecutor {
  return new ThreadExecutor(options);
}

class ThreadExecutor extends TinypoolExecutor {
  /** Which link takes a batch, and how many may be out. */
  private readonly placement: Placement;
  /** Thread workers' links, by thread id. */
  private readonly links = new Map<number, WorkerLink>();
  /** Links of idle workers that run their teardown before they are stopped (no new batches). */
  private readonly retiring = new Map<number, WorkerLink>();
  /**
   * A started worker with its link that takes no batch, to replace the next one that goes (the
   * `spare` option); wanted once a worker has gone under a batch.
   */
  private spareLink: WorkerLink | undefined;
  private wantSpare = false;
  private readonly hellos: Hellos;
  /** Batches that wait for a link to have room, and those that wait behind others on one. */
  private readonly parking: Parking;
  private readonly rows: ControlRows;

  constructor(options: WorkersOptions) {
    const { size, idleTimeout = Infinity } = options;
    // Room for every batch out twice over: a batch's row stays taken until its worker is done
    // with it.
    const rows = new ControlRows(2 * DEPTH * size);
    super(options, {
      runtime: 'thread',
      // A linked worker looks idle to the host: its idleness is timed here (see `answer`).
      idleTimeout: Number.isFinite(idleTimeout) ? undefined : Infinity,
      workerData: { control: rows.block.buffer, rows: rows.block.rows },
    });
    this.rows = rows;
    this.placement = new Placement(size);
    this.parking = new Parking(this.placement, this.links, {
      post: (link, batch) => this.post(link, batch),
      move: (batch, from, to) => this.move(batch, from, to),
    });
    this.hellos = new Hellos({
      host: this.host,
      // One hello a worker: `size`, and the spare's, if one is wanted.
      hellos: () => this.size + (this.spareWanted() ? 1 : 0),
      adopt: (link) => {
        if (this.links.size >= this.size && this.spareWanted()) {
          this.spareLink = link;
        } else {
          this.links.set(link.threadId, link);
          this.unpark();
        }
        this.retireWhenIdle(link);
      },
      answer: (link, reply) => this.answer(link, reply),
      roundOver: (adopted, failure, startFailure) => {
        // Workers that cannot start: what waits for a link fails, rather than waiting forever.
        if (adopted === 0 && this.links.size === 0 && (failure !== undefined || startFailure)) {
          for (const batch of this.parking.takeAll()) {
            this.settle(
              batch,
              startFailure ? cannotStart(batch, startFailure) : this.failure(batch, failure),
            );
          }
        } else if (!startFailure) {
          this.unpark();
        } else {
          // Some workers have links: the batches that wait go to them as they have room, and no
          // new round is started for them until a new batch comes (each start would fail again).
          this.parking.unpark();
        }
      },
    });
  }

  protected hostEvents(): WorkerHostEvents {
    return {
      exited: (threadId, reason) => this.unlink(threadId, reason),
      startFailed: (error, _anyReady, threadId) => {
        // A worker with a link was ready: it did not fail to start.
        if (
          threadId !== undefined &&
          (this.links.has(threadId) || this.spareLink?.threadId === threadId)
        )
          return;
        this.hellos.cannotStart(error);
      },
      sent: () => {},
      unsent: () => false,
    };
  }

  /** Two batches a link, for `activeLinks` links. */
  capacity(): number {
    return this.placement.capacity();
  }

  /**
   * Workers that have a batch now (a linked worker may hold a second batch behind the first), and
   * items sent in a batch not yet started.
   */
  stats(): { busy?: number; queued: number } {
    let queued = 0;
    for (const { count, control, row } of this.inFlight.values()) {
      if (control && control.startedAt(row) === 0) queued += count;
    }
    let busy = 0;
    for (const link of this.links.values()) if (link.held > 0) busy++;
    return { busy, queued };
  }

  /** Every worker gets a link first (workers start up to `size`); then it goes on the links. */
  protected async broadcastOn(work: WorkSpec, input: unknown): Promise<BroadcastReply[]> {
    if (this.links.size < this.size || this.hellos.greeting) await this.hellos.round();
    if (!this.host.open) throw new Error('The pool is closed: it takes no new work');
    const { setup, teardown } = this.options;
    const request = { id: this.nextBroadcast++, work, input, setup, teardown };
    const replies = await Promise.all([...this.links.values()].map((l) => l.broadcast(request)));
    return replies.sort((a, b) => a.workerId - b.workerId);
  }

  private nextBroadcast = 0;

  /** No new batches come (the pool waited for those out): stops the workers, after teardown. */
  async close(): Promise<void> {
    this.parking.stop();
    if (this.options.teardown) {
      // The links hold nothing open: the process stays alive until every worker answered.
      const hold = setInterval(() => {}, 2 ** 30);
      await Promise.all([...this.links.values()].map((link) => link.tearDownWithin()));
      clearInterval(hold);
    }
    await this.host.destroy();
  }

  /** Stops now: the batches out are reported 'aborted' (or as their workers' exits say). */
  async destroy(): Promise<void> {
    this.parking.stop();
    // The running tasks' signals fire first (their workers stop right after).
    for (const batch of this.inFlight.values()) {
      if (batch.control) this.links.get(batch.control.thread(batch.row))?.abort(batch.id, 'cancel');
    }
    for (const batch of this.parking.takeAll()) this.settle(batch, { type: 'aborted' });
    await this.host.destroy();
  }

  run(
    given: ExecutorBatch,
    report: (outcome: BatchOutcome) => void,
    values?: ValuesListener,
  ): RunningBatch {
    const ref = this.rows.take();
    const packed = packNumbers(given.inputs as unknown[]);
    const short = this.placement.isShort(given.expectedMs);
    const batch = this.newBatch(given, report, values, ref, packed, short);
    if (packed) batch.transferList = [...(batch.transferList ?? []), packed.buffer];
    batch.control = this.rows.blockOf(ref);
    this.place(batch);
    // Its row is read from `batch`: it changes if the batch moves to another link.
    return {
      current() {
        const startedAt = batch.control!.startedAt(batch.row);
        // The worker writes this machine's epoch time (`timeOrigin + now()`), as `now` here.
        return startedAt === 0
          ? undefined
          : {
              position: batch.control!.position(batch.row),
              elapsedMs: performance.timeOrigin + performance.now() - startedAt,
            };
      },
      abort: (reason) => this.abort(batch, reason),
      grant: (position, count) => this.tell(batch, { flatKey: batch.id, position, grant: count }),
    };
  }

  /** A flat message to the worker that took the batch. */
  private tell(batch: InFlightBatch, message: FlatControl): void {
    if (batch.finished) return;
    const threadId = batch.control!.thread(batch.row);
    this.links.get(threadId)?.send(message);
  }

  /** `RunningBatch.abort`. */
  private abort(batch: InFlightBatch, reason: 'cancel' | 'timeout'): void {
    if (batch.aborted || batch.finished || batch.stopping) return;
    batch.aborted = true;
    if (this.parking.unparkOne(batch)) {
      queueMicrotask(() => this.settle(batch, { type: 'aborted' }));
      return;
    }
    batch.control!.cancel(batch.row);
    const threadId = batch.control!.thread(batch.row);
    if (threadId === 0) {
      // Not started: the worker will skip it when it comes to it (and then free its row).
      queueMicrotask(() => finish(batch, { type: 'aborted' }));
      return;
    }
    // Running (or done, its reply on the way). A reply or an exit of the worker that waits to be
    // read (the main thread was busy, and timers come before I/O in the event loop) is read
    // first: an item that ended in time, or took its worker down, is not reported as timed out.
    // Two turns, as in runtime/process-worker.ts.
    batch.aborted = false;
    batch.stopping = true;
    setImmediate(() =>
      setImmediate(() => {
        if (batch.finished || !this.inFlight.has(batch.id)) return;
        // Its worker is exiting on its own (however long it takes to go): its exit tells.
        if (batch.control!.exitCode(batch.row) !== undefined) return;
        batch.aborted = true;
        this.abortRunning(batch, threadId, reason);
      }),
    );
  }

  /**
   * Aborts a batch its worker runs: a task that awaits hears it (its signal fires) and keeps its
   * worker if it settles within `abortGrace`; one that runs synchronously past its timeout cannot
   * hear it, and its worker is stopped (after a short look again: a worker that the machine's load
   * held up for a moment inside a task's synchronous part is not mistaken for it).
   */
  private abortRunning(
    batch: InFlightBatch,
    threadId: number,
    reason: 'cancel' | 'timeout',
    looked = false,
  ): void {
    if (batch.finished || !this.inFlight.has(batch.id)) return;
    const stop = () => this.host.stop(threadId, STOPPED);
    const link = this.links.get(threadId);
    if (!link) {
      stop();
      return;
    }
    const { control, row } = batch;
    if (reason === 'timeout' && control!.calling(row)) {
      if (looked) {
        stop();
        return;
      }
      const position = control!.position(row);
      const timer = setTimeout(() => {
        if (control!.calling(row) && control!.position(row) === position) stop();
        else this.abortRunning(batch, threadId, reason, true);
      }, CANCEL_GRACE_MS);
      timer.unref();
      return;
    }
    link.abortRunning(batch, reason, this.abortGrace, stop);
  }

  /**
   * Gives a batch to a link, or parks it; starts a round of hellos while fewer workers than the
   * pool needs have a link.
   */
  private place(batch: InFlightBatch): void {
    this.placement.placing(batch.short);
    if (this.short()) this.hellos.greet();
    this.parking.place(batch);
  }

  /** Posts the batches that wait, in order, as far as links have room. */
  private unpark(): void {
    this.parking.unpark();
    if ((this.parking.waiting && this.links.size < this.size) || this.spareWanted()) {
      this.hellos.greet();
    }
  }

  /** Fewer workers have links than the pool needs: `size`, and a spare if one is wanted. */
  private short(): boolean {
    return this.links.size < this.size || this.spareWanted();
  }

  private spareWanted(): boolean {
    return this.wantSpare && this.spare && this.spareLink === undefined;
  }

  /** Posts a batch on a link (Placement chose it). */
  private post(link: WorkerLink, batch: InFlightBatch): void {
    const behind = link.held > 0;
    try {
      link.post(batch);
    } catch (error) {
      // It cannot be sent (an input that cannot be cloned, or whose getter throws): trying again
      // would fail the same way, so the items at fault fail, and the others go again.
      queueMicrotask(() => this.settle(batch, unsendable(error, batch.inputs, true)));
      return;
    }
    if (behind) this.parking.lookForSteals();
    batch.postedAt = this.placement.now();
    this.placement.posted(batch.postedAt);
  }

  /** Moves a batch that has not started from one link to another (see `Parking.steal`). */
  private move(batch: InFlightBatch, from: WorkerLink, to: WorkerLink): void {
    const { control, row, ref } = batch;
    control!.cancel(row);
    // Its worker took it meanwhile: it runs there, or skips it and its items go again.
    if (control!.thread(row) !== 0) return;
    // Its worker will skip it, and answer: its row is taken until then.
    from.batches.delete(batch.id);
    from.moved.set(batch.id, ref!);
    const next = this.rows.take();
    batch.ref = next;
    batch.control = this.rows.blockOf(next);
    batch.row = next.row;
    // Packed inputs went to the first worker: pack them again.
    const packed = packNumbers(batch.inputs);
    batch.request = { ...batch.request, inputs: packed ?? batch.inputs, control: next };
    batch.transferList = packed ? [packed.buffer] : undefined;
    this.placement.stole();
    this.post(to, batch);
  }

  private anyHeld(): boolean {
    for (const link of this.links.values()) if (link.held > 0) return true;
    return false;
  }

  /** A reply on a link. */
  private answer(
    link: WorkerLink,
    reply: LinkReply | TornDown | BroadcastReply | FlatValues,
  ): void {
    if (isFlatMessage(reply)) {
      this.flatValues(reply);
      return;
    }
    if ('tornDown' in reply) {
      link.answerTearDown(reply);
      return;
    }
    if ('broadcast' in reply) {
      link.answerBroadcast(reply);
      return;
    }
    const batch = link.batches.get(reply.id);
    if (!batch) {
      // A batch that moved to another link: this worker skipped it, and its row is free.
      const ref = link.moved.get(reply.id);
      if (ref) {
        link.moved.delete(reply.id);
        this.rows.release(ref);
      }
      return;
    }
    link.batches.delete(reply.id);
    if ('response' in reply) this.placement.ranFor(reply.response.ms, this.anyHeld());
    this.settle(
      batch,
      'response' in reply
        ? this.done(reply.response, batch)
        : { type: 'crashed', error: reviveError(reply.broken), position: undefined },
    );
    this.retireWhenIdle(link);
    this.unpark();
  }

  /** With a finite `idleTimeout`, retires the worker of a link that has been idle that long. */
  private retireWhenIdle(link: WorkerLink): void {
    link.retireWhenIdle(this.idleTimeout, () => {
      if (!this.options.teardown) {
        this.host.stop(link.threadId, RETIRE);
        return;
      }
      // No new batch goes to it while its teardown runs.
      this.links.delete(link.threadId);
      this.retiring.set(link.threadId, link);
      void link.tearDownWithin().then(() => this.host.stop(link.threadId, RETIRE));
    });
  }

  /**
   * A linked worker is gone (it exited, was stopped or retired): its batches fail, or go again if
   * they never started.
   */
  private unlink(threadId: number, reason: Error): void {
    if (this.spareLink?.threadId === threadId) {
      this.spareLink.close();
      this.spareLink = undefined;
      return;
    }
    const link = this.links.get(threadId) ?? this.retiring.get(threadId);
    if (!link) return;
    this.links.delete(threadId);
    this.retiring.delete(threadId);
    if (reason !== RETIRE) {
      // It went under its batches (a crash, a stop): the spare takes its place now, and another
      // starts (in `unpark`); a worker retired when idle or after its items needs none.
      this.wantSpare = true;
      const spare = this.spareLink;
      this.spareLink = undefined;
      if (spare && this.host.open) this.links.set(spare.threadId, spare);
    }
    const { batches, moved } = link.close();
    for (const ref of moved) this.rows.release(ref);
    this.placement.count(this.anyHeld());
    // A worker that died with no batch of its link started was killed by the first one on its way
    // in (an input too large for `maxHeapMb`, read before the worker can say it took it): that one
    // is charged as a crash. Were it called lost, it would be sent again, and kill again, forever.
    const suspect =
      !this.stoppedHere(reason) && !batches.some((b) => b.control!.thread(b.row) !== 0)
        ? batches[0]
        : undefined;
    for (const batch of batches) this.settle(batch, this.failure(batch, reason, batch === suspect));
    this.unpark();
  }

  /** Whether a worker went because this pool stopped it (retired, stopped, being terminated). */
  private stoppedHere(reason: unknown): boolean {
    return reason === RETIRE || reason === STOPPED || this.host.isTerminationError(reason);
  }

  /** Its worker is done with the batch: its control row is free. */
  protected override released(batch: InFlightBatch): void {
    if (batch.ref) this.rows.release(batch.ref);
  }
}

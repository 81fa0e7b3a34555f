/**
 * The default executor: batches run on tinypool workers (threads or processes).
 *
 * Tinypool starts, replaces and stops the workers. Process workers take one tinypool task per
 * batch. A thread worker takes its batches over a link of its own, a `MessagePort` it got once
 * (see `greet`): a batch then costs one message each way, where a tinypool task would add tens of
 * microseconds of bookkeeping on both sides (a task record, a wake-up from `Atomics.wait`, a read
 * of the worker's memory use), most of an idle pool's latency.
 *
 * The executor holds the process open while it has any batch out, and only then (see `hold`):
 * links, tinypool's workers and a worker being started to replace one that died hold nothing.
 *
 * It also works around what tinypool does not do: a thread worker that calls `process.exit` is
 * never noticed by tinypool (its task would hang), so every worker's `exit` is watched here; a
 * worker is retired (`maxTasksPerWorker`, a failed setup, `idleTimeout`) or stopped (a timeout, a
 * cancelled stream) by the `error` event that tinypool handles by replacing it; and a task that a
 * process worker cannot pass on to its child is answered here instead of killing this process
 * (see `relay`).
 *
 * Thread workers share a block of control cells (which item runs, since when, which thread took
 * a batch, and a cancel flag), so that a batch can be timed, stopped, or skipped while it waits
 * behind another on its link.
 */

import type { ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { MessageChannel, type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import { Tinypool } from 'tinypool';
import { TARGET_BATCH_MS } from '../engine/batching.js';
import type {
  BatchOutcome,
  Executor,
  ExecutorBatch,
  ExecutorTraits,
  ItemFailure,
  RunningBatch,
} from '../executor/contract.js';
import type { Transferable } from '../types.js';
import { findUncloneable } from './clone.js';
import {
  type BatchResponse,
  ControlBlock,
  type ControlRef,
  type Hello,
  type HelloReply,
  type LinkBatch,
  type LinkReply,
  packNumbers,
  type Release,
  type WireError,
  type WorkSpec,
} from './messages.js';
import { reviveError, reviveLoose } from './revive.js';

/** The executor's settings, already validated. */
export interface TinypoolExecutorOptions {
  readonly size: number;
  readonly runtime: 'thread' | 'process';
  /** ms an idle worker lives; `Infinity` keeps `size` workers. */
  readonly idleTimeout: number;
  /** Items a worker runs before it is replaced; `Infinity` for never. */
  readonly maxTasksPerWorker: number;
  readonly setup: WorkSpec | undefined;
  readonly maxHeapMb: number | undefined;
}

const workerFile = new URL('./worker.js', import.meta.url);
const RETIRE = new Error('rxpool: worker retired');
RETIRE.name = 'WorkerRetired';
const STOPPED = new Error('rxpool: worker stopped');
STOPPED.name = 'WorkerStopped';

type TinypoolWorker = Tinypool['threads'][number];

/**
 * Batches a link holds at once: one running, one waiting behind it, so that its worker goes
 * straight on to the next while the main thread handles the results of the last (only short
 * batches wait behind another; see `place`).
 */
const DEPTH = 2;
/** A batch expected to run this long or less may wait behind another on a link. */
const SHORT_BATCH_MS = 2 * TARGET_BATCH_MS;
/** Tinypool's `idleTimeout` when rxpool times idle thread workers itself: never, in effect. */
const NEVER_MS = 2 ** 31 - 1;
/**
 * How often (ms with batches out) the executor looks at how busy the workers are, to let one more
 * worker's worth of batches out, or one fewer (see `adapt`).
 */
const ADAPT_MS = 4;
/**
 * Busier than this (the share of their time spent running items) for `GROW_WINDOWS` windows in a
 * row, one more worker's worth.
 */
const GROW_ABOVE = 0.6;
const GROW_WINDOWS = 3;
/** Less busy than this with one worker's worth fewer, one fewer. */
const SHRINK_BELOW = 0.4;
/**
 * A batch that has waited this long behind another on its link, while another link is idle, moves
 * there (see `steal`).
 */
const STEAL_AFTER_MS = SHORT_BATCH_MS;

/**
 * How long a running batch that was cancelled (`abort('cancel')`) has to answer before its worker
 * is stopped: the worker reads the cancel cell between items, so a batch of short items answers
 * within a message's round trip, and its worker is kept.
 */
const CANCEL_GRACE_MS = 10;

/** A batch on its way to a worker, running, or waiting for a link. */
interface Sent {
  readonly id: number;
  /**
   * What goes to the worker (with its id, for a link's reply); its control cells and packed inputs
   * change if it moves.
   */
  request: LinkBatch;
  readonly inputs: unknown[];
  transferList: Transferable[] | undefined;
  readonly count: number;
  /** Its control cells (thread runtime). */
  control: ControlBlock | undefined;
  slot: number;
  ref: ControlRef | undefined;
  readonly short: boolean;
  /** It can go to another link before it starts: it moves no buffers of the caller's. */
  readonly movable: boolean;
  /** When it was posted to its link (`performance.now()`). */
  postedAt: number;
  /** Process runtime: the child process tinypool sent it to, and when (see `relay`). */
  child: ChildProcess | undefined;
  sentAt: number;
  /** Process runtime: what tinypool's relay to the child threw (see `relay`). */
  unsent: unknown;
  readonly finish: (outcome: BatchOutcome) => void;
  aborted: boolean;
}

/** A thread worker's link, and the batches it was given. */
interface Link {
  readonly threadId: number;
  readonly port: MessagePort;
  /** Batches posted and not answered, by id. */
  readonly batches: Map<number, Sent>;
  /**
   * Control cells of batches that moved to another link before they started, by batch id: taken
   * until this worker has skipped them (it answers each).
   */
  readonly moved: Map<number, ControlRef>;
  /** Retires the worker once idle for `idleTimeout`. */
  idleTimer: ReturnType<typeof setTimeout> | undefined;
}

export class TinypoolExecutor implements Executor {
  readonly size: number;
  readonly traits: ExecutorTraits;
  private readonly knowsPosition: boolean;
  private pool: Tinypool | undefined;
  private readonly watched = new WeakSet<object>();
  /**
   * Batches out, by id, until their slot is free (after their outcome, once their worker is done).
   */
  private readonly sent = new Map<number, Sent>();
  /** Thread workers' links, by thread id. */
  private readonly links = new Map<number, Link>();
  /** A round of hellos is out (see `greet`). */
  private greeting = false;
  /**
   * How many workers' worth of batches may be out (`DEPTH` each, thread runtime): all of them to
   * begin with, fewer while the workers are mostly idle (see `adapt`).
   */
  private width: number;
  /**
   * For `adapt`: worker time reported, and time with batches out on links (counted up to
   * `countingSince`, a `performance.now()`, or 0 while no link holds a batch).
   */
  private busyMs = 0;
  private countedMs = 0;
  private countingSince = 0;
  /** Windows in a row in which the workers were busier than `GROW_ABOVE`. */
  private busyWindows = 0;
  /** Looks for batches to move while some wait behind others (see `steal`). */
  private stealTimer: ReturnType<typeof setTimeout> | undefined;
  /** Why a worker that is being stopped is stopped, by thread id. */
  private readonly stopping = new Map<number, Error>();
  /** Batches that wait for a link to have room (long ones wait for an idle link). */
  private parked: Sent[] = [];
  private nextId = 0;
  /** Control cells for the batches out (thread runtime); every worker gets the block at start. */
  private readonly control: ControlBlock;
  private readonly freeSlots: number[] = [];

  constructor(private readonly options: TinypoolExecutorOptions) {
    this.size = options.size;
    this.width = options.size;
    this.knowsPosition = options.runtime === 'thread';
    this.traits = {
      targetBatchMs: TARGET_BATCH_MS,
      enforcesTimeouts: false,
      knowsPosition: this.knowsPosition,
    };
    // Room for every slot twice over: a batch's slot stays taken until its worker is done with it.
    const slots = this.knowsPosition ? 2 * DEPTH * options.size : 0;
    this.control = ControlBlock.create(slots);
    for (let slot = slots - 1; slot >= 0; slot--) this.freeSlots.push(slot);
  }

  /** Two batches a link, for `width` links (thread runtime); one a worker (process runtime). */
  capacity(): number {
    return this.knowsPosition ? this.width * DEPTH : this.size;
  }

  /**
   * Workers that have a batch now (a linked worker may hold a second batch behind the first), and
   * items sent in a batch not yet started.
   */
  stats(): { busy?: number; queued: number } {
    let queued = 0;
    for (const { count, control, slot } of this.sent.values()) {
      if (control && control.startedAt(slot) === 0) queued += count;
    }
    if (!this.knowsPosition) return { queued };
    let busy = 0;
    for (const link of this.links.values()) if (link.batches.size > 0) busy++;
    return { busy, queued };
  }

  /** No new batches come (the pool waited for those out): stops the workers. */
  async close(): Promise<void> {
    clearTimeout(this.stealTimer);
    await this.pool?.destroy();
    this.pool = undefined;
  }

  /** Stops now: the batches out are reported 'aborted' (or as their workers' exits say). */
  async destroy(): Promise<void> {
    clearTimeout(this.stealTimer);
    const parked = this.parked;
    this.parked = [];
    for (const sent of parked) this.settle(sent, { type: 'aborted' });
    const pool = this.pool;
    this.pool = undefined;
    await pool?.destroy();
  }

  run(batch: ExecutorBatch, done: (outcome: BatchOutcome) => void): RunningBatch {
    const { work, expectedMs } = batch;
    const inputs = batch.inputs as unknown[];
    let transferList = batch.transferList as Transferable[] | undefined;
    // The engine times items that have a timeout: the worker then records when each one starts.
    const timed = batch.timeout !== undefined;
    const pool = this.ensurePool();
    const ref = this.knowsPosition ? this.takeSlot() : undefined;
    const control = ref && (ref.buffer ? new ControlBlock(ref.buffer, 1) : this.control);
    const slot = ref?.slot ?? 0;
    const movable = (transferList?.length ?? 0) === 0;
    const packed = packNumbers(inputs);
    if (packed && this.knowsPosition) transferList = [...(transferList ?? []), packed.buffer];
    let finished = false;
    const id = this.nextId++;
    const sent: Sent = {
      id,
      request: {
        id,
        work,
        inputs: packed ?? inputs,
        setup: this.options.setup,
        maxItems: Number.isFinite(this.options.maxTasksPerWorker)
          ? this.options.maxTasksPerWorker
          : 0,
        control: ref,
        timed,
      },
      inputs,
      transferList,
      count: inputs.length,
      control,
      slot,
      ref,
      short: expectedMs !== undefined && expectedMs <= SHORT_BATCH_MS,
      movable,
      postedAt: 0,
      child: undefined,
      sentAt: 0,
      unsent: undefined,
      finish: (outcome) => {
        if (finished) return;
        finished = true;
        done(outcome);
      },
      aborted: false,
    };
    this.sent.set(id, sent);
    if (control) {
      this.place(sent);
      this.watch();
      // Its cells are read from `sent`: they change if it moves to another link.
      return {
        current() {
          const startedAt = sent.control!.startedAt(sent.slot);
          // The worker writes this machine's epoch time (`timeOrigin + now()`), as `now` here.
          return startedAt === 0
            ? undefined
            : {
                position: sent.control!.position(sent.slot),
                elapsedMs: performance.timeOrigin + performance.now() - startedAt,
              };
        },
        abort: (reason) => {
          if (sent.aborted || finished) return;
          sent.aborted = true;
          const at = this.parked.indexOf(sent);
          if (at >= 0) {
            this.parked.splice(at, 1);
            queueMicrotask(() => this.settle(sent, { type: 'aborted' }));
            return;
          }
          sent.control!.cancel(sent.slot);
          const threadId = sent.control!.thread(sent.slot);
          if (threadId !== 0 && reason === 'timeout') {
            // Running (or done, its reply on the way): stop its worker; the batches behind it on
            // its link go again.
            this.stopWorker(threadId, STOPPED);
          } else if (threadId !== 0) {
            // Cancelled while running: the worker reads the cancel cell between items and answers;
            // its worker is stopped only if the answer does not come within the grace.
            this.awaitCancel(sent, threadId);
          } else {
            // Not started: the worker will skip it when it comes to it (and then free its slot).
            queueMicrotask(() => sent.finish({ type: 'aborted' }));
          }
        },
      };
    }
    // Process runtime: one tinypool task per batch, stopped by its signal.
    const controller = new AbortController();
    let stopping = false;
    pool.run(sent.request, { signal: controller.signal, transferList: transferList as never }).then(
      (response: BatchResponse) => this.settle(sent, this.done(response)),
      (error: unknown) => {
        const { child } = sent;
        if (sent.aborted && child && !finished) {
          // Stopped (a timeout): its child may have died on its own first, its exit not yet
          // seen. How the child ended tells: a death is a crash, not a timeout.
          exited(child).then(() => this.settle(sent, this.ended(sent, child)));
        } else {
          this.settle(sent, this.failure(sent, error));
        }
      },
    );
    this.watch();
    return {
      // An item's time counts from when tinypool sent it to a child process, not while it waited
      // for one (a worker being started to replace one that died).
      current: () =>
        inputs.length === 1 && sent.sentAt !== 0
          ? { position: 0, elapsedMs: performance.now() - sent.sentAt }
          : undefined,
      abort: () => {
        if (stopping || finished) return;
        stopping = true;
        // A child's reply or exit that waits to be read (the main thread was busy, and timers
        // come before I/O in the event loop) is read first: an item that ended in time, or died,
        // is not reported as timed out. Two turns: the reply crosses a port once read.
        setImmediate(() =>
          setImmediate(() => {
            if (finished) return;
            sent.aborted = true;
            controller.abort();
            this.watch();
          }),
        );
      },
    };
  }

  /**
   * Gives a batch to a link, or parks it behind those that wait already (in order: a long batch
   * that waits for an idle link is not passed by the short ones that come after it). Starts a
   * round of hellos while fewer workers than `size` have a link.
   */
  private place(sent: Sent): void {
    // A batch of unknown or long run time may need every worker (items that wait for each other,
    // a stream of heavy items starting): all the slots open again, until `adapt` sees them idle.
    if (!sent.short) this.width = this.size;
    if (this.links.size < this.size) this.greet();
    if (this.parked.length > 0 || !this.tryPost(sent)) this.parked.push(sent);
  }

  /**
   * Posts a batch to an idle link; or, if it is short, behind another on the link that holds
   * fewest, and its worker goes straight on to it. A long batch never waits behind another.
   */
  private tryPost(sent: Sent): boolean {
    let target: Link | undefined;
    let least = DEPTH;
    let index = 0;
    for (const link of this.links.values()) {
      // Short batches go to the first `width` links: the others' workers stay idle.
      if (sent.short && index++ === this.width) break;
      const held = link.batches.size;
      if (held === 0) {
        target = link;
        break;
      }
      if (sent.short && held < least) {
        target = link;
        least = held;
      }
    }
    if (target === undefined) return false;
    this.post(target, sent);
    return true;
  }

  /** Posts the batches that wait, in order, as far as links have room. */
  private unpark(): void {
    while (this.parked.length > 0 && this.tryPost(this.parked[0]!)) this.parked.shift();
    if (this.parked.length > 0 && this.links.size < this.size) this.greet();
  }

  /**
   * Sends a hello to every worker at once, each with a new port. Tinypool gives each to a worker
   * that holds no task, and each worker holds its hello until all have answered: so every worker
   * gets one, those that had no link take theirs (new workers are started for the hellos that
   * wait), and the others just answer. Then all hellos are released.
   */
  private greet(): void {
    const pool = this.pool;
    if (this.greeting || !pool) return;
    this.greeting = true;
    const answered: MessagePort[] = [];
    let pending = this.size;
    let adopted = 0;
    let failure: unknown;
    const settled = () => {
      if (--pending > 0) return;
      this.greeting = false;
      for (const port of answered) port.postMessage({ release: true } satisfies Release);
      // Workers that cannot start: what waits for a link fails, rather than waiting forever.
      if (adopted === 0 && this.links.size === 0 && failure !== undefined) {
        const parked = this.parked;
        this.parked = [];
        for (const sent of parked) this.settle(sent, this.failure(sent, failure));
      } else {
        this.unpark();
      }
    };
    for (let i = 0; i < this.size; i++) {
      const { port1, port2 } = new MessageChannel();
      let link: Link | undefined;
      let replied = false;
      port1.on('message', (message: HelloReply | LinkReply) => {
        if (link) {
          this.answer(link, message as LinkReply);
          return;
        }
        if (replied) return;
        replied = true;
        answered.push(port1);
        const hello = message as HelloReply;
        if (hello.adopted) {
          adopted++;
          link = this.addLink(hello.threadId, port1);
        }
        settled();
      });
      port1.unref();
      pool.run({ hello: port2 } satisfies Hello, { transferList: [port2] as never }).then(
        () => {},
        (error: unknown) => {
          if (replied) return;
          replied = true;
          failure = error;
          port1.close();
          settled();
        },
      );
    }
    this.watch();
  }

  private addLink(threadId: number, port: MessagePort): Link {
    const link: Link = {
      threadId,
      port,
      batches: new Map(),
      moved: new Map(),
      idleTimer: undefined,
    };
    this.links.set(threadId, link);
    this.watch();
    this.idle(link);
    this.unpark();
    return link;
  }

  private post(link: Link, sent: Sent): void {
    if (link.idleTimer !== undefined) {
      clearTimeout(link.idleTimer);
      link.idleTimer = undefined;
    }
    try {
      link.port.postMessage(sent.request, sent.transferList ?? []);
    } catch (error) {
      // It cannot be sent (an input that cannot be cloned, or whose getter throws): trying again
      // would fail the same way, so the items at fault fail, and the others go again.
      queueMicrotask(() => this.settle(sent, unsendable(error, sent.inputs, true)));
      return;
    }
    if (link.batches.size > 0) this.watchQueued();
    sent.postedAt = performance.now();
    if (this.countingSince === 0) this.countingSince = sent.postedAt;
    link.batches.set(sent.id, sent);
  }

  /** Batches wait behind others on their links: look again in `STEAL_AFTER_MS` (see `steal`). */
  private watchQueued(): void {
    if (this.stealTimer !== undefined) return;
    this.stealTimer = setTimeout(() => {
      this.stealTimer = undefined;
      this.steal();
    }, STEAL_AFTER_MS);
    this.stealTimer.unref();
  }

  /**
   * Moves each batch that has waited `STEAL_AFTER_MS` behind another on its link, and has not
   * started, to an idle link: a batch thought short that turns out long (items that got slower)
   * then holds up only itself. With fewer links getting short batches (`width`), it is also what
   * brings an idle worker back, at once, when they are needed.
   */
  private steal(): void {
    const now = performance.now();
    let waiting = false;
    for (const link of [...this.links.values()]) {
      const queued = [...link.batches.values()].slice(1);
      for (const sent of queued) {
        if (sent.aborted || !sent.movable || sent.control!.thread(sent.slot) !== 0) continue;
        waiting = true;
        if (now - sent.postedAt < STEAL_AFTER_MS) continue;
        const idle = [...this.links.values()].find((other) => other.batches.size === 0);
        if (!idle) continue;
        this.move(sent, link, idle);
      }
    }
    if (waiting) this.watchQueued();
  }

  /** Moves a batch that has not started from one link to another (see `steal`). */
  private move(sent: Sent, from: Link, to: Link): void {
    const { control, slot, ref } = sent;
    control!.cancel(slot);
    // Its worker took it meanwhile: it runs there, or skips it and its items go again.
    if (control!.thread(slot) !== 0) return;
    // Its worker will skip it, and answer: its cells are taken until then.
    from.batches.delete(sent.id);
    from.moved.set(sent.id, ref!);
    const next = this.takeSlot();
    sent.ref = next;
    sent.control = next.buffer ? new ControlBlock(next.buffer, 1) : this.control;
    sent.slot = next.slot;
    // Packed inputs went to the first worker: pack them again.
    const packed = packNumbers(sent.inputs);
    sent.request = { ...sent.request, inputs: packed ?? sent.inputs, control: next };
    sent.transferList = packed ? [packed.buffer] : undefined;
    this.width = Math.min(this.size, this.width + 1);
    this.post(to, sent);
  }

  /**
   * Counts a batch's worker time; every `ADAPT_MS` with batches out, lets one more worker's worth
   * of batches out if the workers were busy most of that time, or one fewer if they could have run
   * it all with one fewer and still been mostly idle. Items that take the workers far less time
   * than the main thread spends on each (sending, emitting) leave two workers on two cores idle
   * most of the time: fewer, larger batches then cost the main thread fewer messages (and each
   * wake-up of a worker can take a core the main thread needs). Items that keep the workers busy
   * keep every slot open.
   */
  private adapt(ms: number): void {
    this.busyMs += ms;
    this.count();
    if (this.countedMs < ADAPT_MS) return;
    const busy = this.busyMs / (this.countedMs * this.width);
    // One busy spell (a batch that met a collection, a worker that lost its core) is not load:
    // one more worker only after GROW_WINDOWS busy windows in a row. (A batch that waits behind
    // a long one moves to an idle worker anyway, see `steal`.)
    this.busyWindows = busy > GROW_ABOVE ? this.busyWindows + 1 : 0;
    if (this.busyWindows >= GROW_WINDOWS && this.width < this.size) {
      this.width++;
      this.busyWindows = 0;
    } else if (this.width > 1 && (busy * this.width) / (this.width - 1) < SHRINK_BELOW) {
      this.width--;
    }
    this.busyMs = 0;
    this.countedMs = 0;
  }

  /** Adds the time since the last count to `countedMs`; stops counting if no link holds a batch. */
  private count(): void {
    if (this.countingSince === 0) return;
    const now = performance.now();
    this.countedMs += now - this.countingSince;
    this.countingSince = this.linksBusy() ? now : 0;
  }

  private linksBusy(): boolean {
    for (const link of this.links.values()) if (link.batches.size > 0) return true;
    return false;
  }

  /** A reply on a link. */
  private answer(link: Link, reply: LinkReply): void {
    const sent = link.batches.get(reply.id);
    if (!sent) {
      // A batch that moved to another link: this worker skipped it, and its cells are free.
      const ref = link.moved.get(reply.id);
      if (ref) {
        link.moved.delete(reply.id);
        if (!ref.buffer) this.releaseSlot(ref.slot);
      }
      return;
    }
    link.batches.delete(reply.id);
    if ('response' in reply) this.adapt(reply.response.ms);
    this.settle(
      sent,
      'response' in reply
        ? this.done(reply.response)
        : { type: 'crashed', error: reviveError(reply.broken), position: undefined },
    );
    this.idle(link);
    this.unpark();
  }

  /** With a finite `idleTimeout`, retires the worker of a link that has been idle that long. */
  private idle(link: Link): void {
    const { idleTimeout } = this.options;
    if (link.batches.size > 0 || !Number.isFinite(idleTimeout)) return;
    if (link.idleTimer !== undefined) clearTimeout(link.idleTimer);
    link.idleTimer = setTimeout(() => {
      link.idleTimer = undefined;
      if (link.batches.size === 0) this.stopWorker(link.threadId, RETIRE);
    }, idleTimeout);
    link.idleTimer.unref();
  }

  /**
   * A linked worker is gone (it exited, was stopped or retired): its batches fail, or go again if
   * they never started.
   */
  private unlink(threadId: number, reason: Error): void {
    const link = this.links.get(threadId);
    if (!link) return;
    this.links.delete(threadId);
    // Replies it sent before it went may not have been read yet: they count.
    for (
      let queued = receiveMessageOnPort(link.port);
      queued;
      queued = receiveMessageOnPort(link.port)
    ) {
      this.answer(link, queued.message as LinkReply);
    }
    if (link.idleTimer !== undefined) clearTimeout(link.idleTimer);
    link.port.close();
    const batches = [...link.batches.values()];
    link.batches.clear();
    for (const ref of link.moved.values()) if (!ref.buffer) this.releaseSlot(ref.slot);
    link.moved.clear();
    this.count();
    for (const sent of batches) this.settle(sent, this.failure(sent, reason));
    this.unpark();
  }

  /**
   * A batch is over: its slot is free again (its worker is done with it), and its outcome goes
   * to the engine unless an abort already settled it.
   */
  private settle(sent: Sent, outcome: BatchOutcome): void {
    if (!this.sent.delete(sent.id)) return;
    if (sent.ref && !sent.ref.buffer) this.releaseSlot(sent.slot);
    sent.finish(outcome);
  }

  /** What became of a batch whose task failed, or whose worker went under it. */
  private failure(sent: Sent, error: unknown): BatchOutcome {
    if (sent.aborted) return { type: 'aborted' };
    if (error === RETIRE || error === STOPPED) return { type: 'lost' };
    // Tinypool can hand a task to a worker it is already terminating (a late reply marks the
    // dying worker available again); the task never ran there, so it goes again.
    if (error instanceof Error && error.message === 'Terminating worker thread') {
      return this.pool ? { type: 'lost' } : { type: 'aborted' };
    }
    const threads = this.knowsPosition;
    if (sent.unsent !== undefined) return unsendable(sent.unsent, sent.inputs, threads);
    const failure = error instanceof Error ? error : reviveLoose(error);
    if (isCloneError(failure)) return unsendable(failure, sent.inputs, threads);
    if (!threads && sent.child === undefined) {
      // Process runtime, never handed to a child: tinypool's own clone of the task (into the port
      // it relays from) may have thrown, a getter of an input say. Then an input is at fault.
      const blamed = culprits(sent.inputs, true);
      if (blamed.size > 0) return { type: 'unsendable', blamed };
    }
    const { control, slot } = sent;
    // Its worker died while it waited behind another batch: it never ran, so it goes again.
    if (control && control.thread(slot) === 0) return { type: 'lost' };
    const position = control && control.startedAt(slot) !== 0 ? control.position(slot) : undefined;
    return {
      type: 'crashed',
      error: crashError(failure),
      position: position !== undefined && position < sent.count ? position : undefined,
    };
  }

  /**
   * A batch stopped while its child process ran it (a timeout), once that child has exited: it
   * was stopped, or it had died on its own (a crash, reported as such).
   */
  private ended(sent: Sent, child: ChildProcess): BatchOutcome {
    if (child.signalCode !== null || child.exitCode === null) return { type: 'aborted' };
    const error = new Error(
      `The worker process exited with code ${child.exitCode} while running this item`,
    );
    error.name = 'WorkerExit';
    Object.assign(error, { exitCode: child.exitCode });
    return { type: 'crashed', error, position: sent.count === 1 ? 0 : undefined };
  }

  /** The outcome of a batch that ran; a reply that cannot be read fails the batch as a crash. */
  private done(response: BatchResponse): BatchOutcome {
    try {
      return this.read(response);
    } catch (error) {
      return {
        type: 'crashed',
        error: error instanceof Error ? error : reviveLoose(error),
        position: undefined,
      };
    }
  }

  private read(response: BatchResponse): BatchOutcome {
    if (response.retire) this.retire(response.workerId);
    let failures: (ItemFailure | undefined)[] | null = null;
    if (response.failures) {
      failures = new Array(response.count);
      for (let i = 0; i < response.count; i++) {
        const wire = response.failures[i];
        if (wire) failures[i] = toFailure(wire);
      }
    }
    return {
      type: 'done',
      values: response.values,
      failures,
      count: response.count,
      ms: response.ms,
    };
  }

  private takeSlot(): ControlRef {
    const slot = this.freeSlots.pop();
    if (slot !== undefined) return { slot };
    return { slot: 0, buffer: ControlBlock.create(1).buffer };
  }

  private releaseSlot(slot: number): void {
    this.control.reset(slot);
    this.freeSlots.push(slot);
  }

  private ensurePool(): Tinypool {
    if (this.pool) return this.pool;
    const { size, runtime, idleTimeout, maxHeapMb } = this.options;
    const keep = !Number.isFinite(idleTimeout);
    const threads = runtime === 'thread';
    const pool = new Tinypool({
      filename: workerFile.href,
      runtime: threads ? 'worker_threads' : 'child_process',
      minThreads: keep ? size : 0,
      maxThreads: size,
      // A linked worker looks idle to tinypool: rxpool times its idleness itself (see `idle`).
      idleTimeout: keep ? 0 : threads ? NEVER_MS : idleTimeout,
      // A linked worker must listen to its link while it holds no task, not sleep in Atomics.wait.
      useAtomics: !threads,
      workerData: { control: this.control.buffer, slots: this.control.slots },
      serialization: 'advanced',
      resourceLimits:
        runtime === 'thread' && maxHeapMb !== undefined
          ? { maxOldGenerationSizeMb: maxHeapMb }
          : undefined,
      execArgv:
        runtime === 'process' && maxHeapMb !== undefined
          ? [...process.execArgv, `--max-old-space-size=${maxHeapMb}`]
          : undefined,
    });
    // Tinypool reports a worker that failed while idle (or that we retired) as a pool error.
    pool.on('error', () => this.watch());
    this.pool = pool;
    this.watch();
    return pool;
  }

  /**
   * Watches every thread worker's exit: its link goes (its batches fail with why it went), and a
   * silent exit (`process.exit`) becomes an `error` event, which tinypool handles by failing the
   * worker's task and replacing the worker (process workers get this from tinypool already).
   * Called whenever workers may have been added.
   */
  private watch(): void {
    if (!this.pool) return;
    for (const worker of this.pool.threads) {
      if (this.watched.has(worker)) continue;
      this.watched.add(worker);
      const thread = (worker as { thread?: import('node:worker_threads').Worker }).thread;
      if (!thread) {
        this.relay(worker);
        continue;
      }
      const threadId = thread.threadId;
      let terminated = false;
      let lastError: Error | undefined;
      const terminate = worker.terminate.bind(worker);
      worker.terminate = () => {
        terminated = true;
        return terminate();
      };
      thread.on('error', (error: Error) => {
        lastError ??= error;
      });
      thread.once('exit', (code) => {
        const stopped = this.stopping.get(threadId);
        this.stopping.delete(threadId);
        const error = new Error(`The worker exited with code ${code} while running this item`);
        error.name = 'WorkerExit';
        Object.assign(error, { exitCode: code });
        this.unlink(threadId, stopped ?? lastError ?? error);
        if (terminated) return;
        worker.emit('error', error);
        this.watch();
      });
    }
  }

  /**
   * Process runtime. Tinypool 2.2.0's `ProcessWorker` takes each task from a port in this process
   * and passes it to its child with `process.send`, in the port's 'message' listener: a message
   * that the child's serialization refuses (a `SharedArrayBuffer`, which the port cloned) throws
   * there, uncaught, and takes this process down. Its `send` is wrapped here: a task it cannot
   * send is answered in the child's place on that port (so the task settles and the worker stays),
   * and the batch keeps what was thrown; a batch it sends is stamped with its child and the time.
   */
  private relay(worker: TinypoolWorker): void {
    const processWorker = worker as unknown as {
      process?: ChildProcess;
      port?: MessagePort;
      send?: (message: { taskId?: number; task?: { id?: number } }) => void;
    };
    const send = processWorker.send;
    if (typeof send !== 'function' || !processWorker.process) return;
    processWorker.send = (message) => {
      const sent =
        typeof message?.task?.id === 'number' ? this.sent.get(message.task.id) : undefined;
      try {
        send.call(worker, message);
      } catch (error) {
        if (!sent || !processWorker.port) throw error;
        sent.unsent = error;
        processWorker.port.postMessage({
          taskId: message.taskId,
          result: null,
          error: { name: 'Unsent', message: 'rxpool: the batch could not be sent' },
          usedMemory: 0,
        });
        return;
      }
      if (sent) {
        sent.child = processWorker.process;
        sent.sentAt = performance.now();
      }
    };
  }

  /**
   * A running batch was cancelled: if its worker has not answered within `CANCEL_GRACE_MS` (a
   * reply that waits to be read counts), the worker is stopped (the item running is long).
   */
  private awaitCancel(sent: Sent, threadId: number): void {
    const timer = setTimeout(() => {
      if (!this.sent.has(sent.id)) return;
      const link = this.links.get(threadId);
      if (link) {
        for (
          let queued = receiveMessageOnPort(link.port);
          queued && this.sent.has(sent.id);
          queued = receiveMessageOnPort(link.port)
        ) {
          this.answer(link, queued.message as LinkReply);
        }
      }
      if (this.sent.has(sent.id)) this.stopWorker(threadId, STOPPED);
    }, CANCEL_GRACE_MS);
    timer.unref();
  }

  private retire(workerId: number): void {
    this.stopWorker(workerId, RETIRE);
  }

  /** Stops a worker the way tinypool handles: its tasks fail with `reason`, and it is replaced. */
  private stopWorker(workerId: number, reason: Error): void {
    const worker = this.pool?.threads.find((w: TinypoolWorker) => w.threadId === workerId);
    if (!worker) return;
    if (this.links.has(workerId)) this.stopping.set(workerId, reason);
    worker.emit('error', reason);
    this.watch();
  }
}

function toFailure(wire: WireError): ItemFailure {
  const failure = {
    error: reviveError(wire),
    kind: 'threw' as const,
    retryable: wire.fatal === undefined,
  };
  return wire.hint === undefined ? failure : { ...failure, hint: wire.hint };
}

function isCloneError(error: Error): boolean {
  return error.name === 'DataCloneError' || /could not be cloned/.test(error.message);
}

/**
 * A batch that could not be sent: the items at fault fail, with why. When none can be named, a
 * lone item is at fault with `error`; a batch of several goes again one item a batch, to find it.
 * So nothing is sent again unchanged.
 */
function unsendable(error: unknown, inputs: unknown[], shared: boolean): BatchOutcome {
  const blamed = culprits(inputs, shared);
  if (blamed.size === 0 && inputs.length === 1) {
    blamed.set(
      0,
      isCloneError(asError(error)) ? cloneError(asError(error).message) : asError(error),
    );
  }
  return { type: 'unsendable', blamed: blamed.size > 0 ? blamed : undefined };
}

/**
 * The inputs that cannot be sent, and why: a part that cannot be cloned (a `DataCloneError` that
 * names it), or what reading it threw (a getter that throws). `shared: false` for a child process.
 */
function culprits(inputs: unknown[], shared: boolean): Map<number, Error> {
  const blamed = new Map<number, Error>();
  for (let i = 0; i < inputs.length; i++) {
    try {
      const problem = findUncloneable(inputs[i], 'the input', { shared });
      if (problem) blamed.set(i, cloneError(`${problem}, so it cannot be sent to a worker`));
    } catch (thrown) {
      blamed.set(i, asError(thrown));
    }
  }
  return blamed;
}

function asError(value: unknown): Error {
  if (value instanceof Error) return value;
  let text: string;
  try {
    text = String(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return new Error(text);
}

/** Resolves once `child` has exited (at once if it has). */
function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

function cloneError(message: string): Error {
  const error = new Error(message);
  error.name = 'DataCloneError';
  return error;
}

function crashError(error: Error): Error {
  if ((error as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY') {
    error.message = `The worker ran out of memory (maxHeapMb): ${error.message}`;
  }
  return error;
}

/** The default worker count: `os.availableParallelism()`. */
export function defaultSize(): number {
  return availableParallelism();
}

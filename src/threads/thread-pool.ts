/**
 * The default executor: batches run on a pool of workers, threads or processes. The workers are
 * started, replaced and stopped through the one door to what hosts them (`WorkerHost`,
 * ./worker-host.ts); a thread worker's batches go over its link (runtime/thread-worker.ts), a
 * process worker's one host task each (runtime/process-worker.ts); which link takes a batch, and
 * how many batches are out, is Placement's (./placement.ts).
 *
 * A thread worker takes its batches over a link of its own, a `MessagePort` it got once (see
 * `greet`): a batch then costs one message each way, where a task of the host would add tens of
 * microseconds of bookkeeping on both sides (a task record, a wake-up from `Atomics.wait`, a read
 * of the worker's memory use), most of an idle pool's latency.
 *
 * Thread workers share a block of control cells, a row per batch (which item runs, since when,
 * which thread took the batch, and a cancel flag), so that a batch can be timed, stopped, or
 * skipped while it waits behind another on its link.
 */

import { availableParallelism } from 'node:os';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { TARGET_BATCH_MS } from '../engine/batching.js';
import type {
  BatchOutcome,
  Executor,
  ExecutorBatch,
  ExecutorTraits,
  ItemFailure,
  RunningBatch,
  ValuesListener,
} from '../executor/contract.js';
import { findUncloneable } from '../pool/clone.js';
import { unpackValues } from '../pool/flat-pack.js';
import {
  type BatchResponse,
  type Broadcast,
  type BroadcastReply,
  type ChildMessage,
  ControlBlock,
  type ControlRef,
  type FlatControl,
  type FlatPart,
  type FlatValues,
  type Hello,
  type HelloReply,
  isFlatMessage,
  type LinkReply,
  packNumbers,
  type Release,
  type TornDown,
  type WireError,
  type WorkSpec,
} from '../pool/messages.js';
import type { TransferListItem } from '../types.js';
import { TEARDOWN_MS } from '../worker/load.js';
import { reviveError, reviveLoose } from '../worker/wire-error.js';
import { cannotStart, exitError, finish, type InFlightBatch } from './in-flight.js';
import { DEPTH, Placement, STEAL_AFTER_MS } from './placement.js';
import { runInChild } from './runtime/process-worker.js';
import { WorkerLink } from './runtime/thread-worker.js';
import { WorkerHost } from './worker-host.js';

/** The executor's settings, already validated. */
export interface ThreadPoolOptions {
  readonly size: number;
  readonly runtime: 'thread' | 'process';
  /** ms an idle worker lives; `Infinity` keeps `size` workers. */
  readonly idleTimeout: number;
  /** Items a worker runs before it is replaced; `Infinity` for never. */
  readonly maxTasksPerWorker: number;
  readonly setup: WorkSpec | undefined;
  readonly maxHeapMb: number | undefined;
  /** The workers' environment; `undefined`: this process's. */
  readonly env?: Readonly<Record<string, string>> | undefined;
  /** ms an aborted task has to settle before its worker is stopped. */
  readonly abortGrace?: number;
  /** Run in each worker, with its state, before it stops (not after a crash). */
  readonly teardown?: WorkSpec | undefined;
  /** A worker whose heap is above this many MB after a batch is replaced. */
  readonly recycleMemoryMb?: number | undefined;
}

/** The default of the `abortGrace` pool option, in ms. */
export const DEFAULT_ABORT_GRACE_MS = 1000;

const RETIRE = new Error('rxpool: worker retired');
RETIRE.name = 'WorkerRetired';
const STOPPED = new Error('rxpool: worker stopped');
STOPPED.name = 'WorkerStopped';

/**
 * How long a running batch that was cancelled (`abort('cancel')`) has to answer before its worker
 * is stopped: the worker reads the cancel cell between items, so a batch of short items answers
 * within a message's round trip, and its worker is kept.
 */
const CANCEL_GRACE_MS = 10;

/**
 * The same for a flat batch, which is told to stop (its iterator's `return()` runs in the worker,
 * and a generator's `finally` blocks with it) and answers when that is done.
 */
export const FLAT_CANCEL_GRACE_MS = 1_000;

/**
 * Settings of the wire that no user sets. `jsonResults`: a batch whose results are all JSON-exact
 * comes back as JSON text (src/pool/exact-json.ts), which the main thread parses faster than it
 * reads a structured clone; on by default, turned off only to measure what it gains (the
 * `records` bench case runs it both ways) or to tell whether a difference comes from it.
 * Read when a batch is sent.
 */
export const wire = { jsonResults: true };

/**
 * Settings of the workers that no user sets. `spare`: once a thread worker has died or been
 * stopped under a batch, one more worker is kept started, with its link, taking no batch: the
 * next worker to go is replaced by it at once, and a new spare starts off the critical path (a
 * pool of child processes that keeps its workers keeps one more child once one has died: see
 * the host's workaround 15; the `size` batches out leave one idle, which takes the next). A
 * pool that never loses a worker never starts one. Turned off only to measure what it gains
 * (the `faults` bench case runs it both ways). Read when a pool is made (the host may then start
 * one worker more than `size`) and when a worker goes.
 */
export const workers = { spare: true };

export class ThreadPoolExecutor implements Executor {
  readonly size: number;
  readonly traits: ExecutorTraits;
  private readonly threads: boolean;
  /** Starts, replaces and stops the workers. */
  private readonly host: WorkerHost;
  /** Which link takes a batch, and how many may be out (thread runtime). */
  private readonly placement: Placement;
  /** Batches out, by id, until their worker is done with them (after their outcome, maybe). */
  private readonly inFlight = new Map<number, InFlightBatch>();
  /** Thread workers' links, by thread id. */
  private readonly links = new Map<number, WorkerLink>();
  /** Links of idle workers that run their teardown before they are stopped (no new batches). */
  private readonly retiring = new Map<number, WorkerLink>();
  /** A round of hellos is out (see `greet`). */
  private greeting = false;
  /** What waits for the round of hellos to end (see `linked`). */
  private readonly greeted: (() => void)[] = [];
  /**
   * A started worker with its link that takes no batch, to replace the next one that goes (see
   * `workers.spare`); wanted once a worker has gone under a batch.
   */
  private spare: WorkerLink | undefined;
  private wantSpare = false;
  /** Stops the hellos of the round out that no worker has answered (see `cannotStart`). */
  private readonly unanswered = new Set<AbortController>();
  /** Why a worker of the round out could not start, if one could not. */
  private startFailure: Error | undefined;
  /** Looks for batches to move while some wait behind others (see `steal`). */
  private stealTimer: ReturnType<typeof setTimeout> | undefined;
  /** Batches that wait for a link to have room (long ones wait for an idle link). */
  private parked: InFlightBatch[] = [];
  private nextId = 0;
  /** Control rows for the batches out (thread runtime); every worker gets the block at start. */
  private readonly control: ControlBlock;
  private readonly freeRows: number[] = [];

  /** Broadcasts out: what takes each worker's reply, by broadcast id. */
  private readonly broadcasts = new Map<number, (reply: BroadcastReply) => void>();
  private nextBroadcast = 0;
  /** ms an aborted task has to settle before its worker is stopped (`abortGrace`). */
  private readonly abortGrace: number;

  constructor(private readonly options: ThreadPoolOptions) {
    const { size, runtime, idleTimeout, maxHeapMb, env } = options;
    this.abortGrace = options.abortGrace ?? DEFAULT_ABORT_GRACE_MS;
    this.size = size;
    this.threads = runtime === 'thread';
    this.placement = new Placement(size);
    this.traits = {
      targetBatchMs: TARGET_BATCH_MS,
      enforcesTimeouts: false,
      knowsPosition: this.threads,
      streams: true,
    };
    // Room for every batch out twice over: a batch's row stays taken until its worker is done
    // with it.
    const rows = this.threads ? 2 * DEPTH * size : 0;
    this.control = ControlBlock.create(rows);
    for (let row = rows - 1; row >= 0; row--) this.freeRows.push(row);
    this.host = new WorkerHost(
      {
        size,
        extra: workers.spare ? 1 : 0,
        runtime,
        // A linked worker looks idle to the host: its idleness is timed here (see `answer`).
        idleTimeout: !Number.isFinite(idleTimeout)
          ? Infinity
          : this.threads
            ? undefined
            : idleTimeout,
        maxHeapMb,
        env,
        workerData: { control: this.control.buffer, rows: this.control.rows },
      },
      {
        exited: (threadId, reason) => this.unlink(threadId, reason),
        startFailed: (error, anyReady, threadId) => {
          // A worker with a link was ready: it did not fail to start.
          if (
            threadId !== undefined &&
            (this.links.has(threadId) || this.spare?.threadId === threadId)
          )
            return;
          this.cannotStart(error, anyReady);
        },
        sent: (id, child) => {
          const batch = this.inFlight.get(id);
          if (!batch) return;
          batch.child = child;
          batch.handedAt = performance.now();
        },
        unsent: (id, error) => {
          const batch = this.inFlight.get(id);
          if (!batch) return false;
          batch.unsent = error;
          return true;
        },
        heard: (message) => {
          if (message.__rxpool__ === 'broadcast') this.broadcasts.get(message.broadcast)?.(message);
          else if (message.__rxpool__ === 'tornDown') reportTeardown(reviveError(message.error));
        },
      },
    );
  }

  /** Two batches a link, for `activeLinks` links (thread runtime); one a worker (process runtime). */
  capacity(): number {
    return this.threads ? this.placement.capacity() : this.size;
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
    if (!this.threads) return { queued };
    let busy = 0;
    for (const link of this.links.values()) if (link.held > 0) busy++;
    return { busy, queued };
  }

  /**
   * Runs `work` once on every worker, starting workers up to `size` first (`pool.broadcast`); a
   * worker runs it after the batches it holds. Resolves with the replies, in `workerId`
   * order; rejects when a task of the host fails (the pool is closed, a worker cannot start).
   */
  async broadcast(work: WorkSpec, input: unknown): Promise<BroadcastReply[]> {
    // The links and the workers hold nothing open: the process stays alive until it is done.
    const hold = setInterval(() => {}, 2 ** 30);
    try {
      return await this.broadcastOn(work, input);
    } finally {
      clearInterval(hold);
    }
  }

  private async broadcastOn(work: WorkSpec, input: unknown): Promise<BroadcastReply[]> {
    const id = this.nextBroadcast++;
    const { size, threads } = this;
    const { setup, teardown } = this.options;
    if (threads) {
      // Every worker gets a link first (workers start up to `size`); then it goes on the links.
      await this.linked();
      if (!this.host.open) throw new Error('The pool is closed: it takes no new work');
      const request = { id, work, input, setup, teardown };
      const replies = await Promise.all([...this.links.values()].map((l) => l.broadcast(request)));
      return replies.sort((a, b) => a.workerId - b.workerId);
    }
    // Processes: one host task a worker, each held until all have answered, so that each worker
    // takes one (and missing ones start); answers come on tinypool's IPC channel.
    return new Promise((resolve, reject) => {
      const replies: BroadcastReply[] = [];
      let failed = false;
      const release = () => {
        this.broadcasts.delete(id);
        for (const child of this.host.children()) {
          this.host.tell(child, { __rxpool__: 'release', broadcast: id } satisfies ChildMessage);
        }
      };
      const take = (reply: BroadcastReply) => {
        replies.push(reply);
        if (replies.length < size || failed) return;
        release();
        resolve(replies.sort((a, b) => a.workerId - b.workerId));
      };
      this.broadcasts.set(id, take);
      const request = { id, work, input, setup, teardown };
      for (let i = 0; i < size; i++) {
        this.host.run({ broadcast: request } satisfies Broadcast).catch((error: unknown) => {
          if (failed) return;
          failed = true;
          release();
          reject(error);
        });
      }
    });
  }

  /** No new batches come (the pool waited for those out): stops the workers, after teardown. */
  async close(): Promise<void> {
    clearTimeout(this.stealTimer);
    // Thread workers run their teardown on their links first (a child process runs it when
    // tinypool stops it: src/worker/host.ts).
    if (this.options.teardown) {
      // The links hold nothing open: the process stays alive until every worker answered.
      const hold = setInterval(() => {}, 2 ** 30);
      await Promise.all([...this.links.values()].map((link) => this.tearDown(link)));
      clearInterval(hold);
    }
    await this.host.destroy();
  }

  /**
   * Has a linked worker run its teardown (after the batches it holds); resolves when it has
   * answered, or after the teardown's limit and a margin (a worker stuck in synchronous code
   * never answers). A failure is reported (see `reportTeardown`).
   */
  private tearDown(link: WorkerLink): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        reportTeardown(new Error(`A worker's teardown did not finish within ${TEARDOWN_MS} ms`));
        resolve();
      }, TEARDOWN_MS + TEARDOWN_MARGIN_MS);
      timer.unref();
      link.tearDown((reply) => {
        clearTimeout(timer);
        if (reply.error) reportTeardown(reviveError(reply.error));
        resolve();
      });
    });
  }

  /** Stops now: the batches out are reported 'aborted' (or as their workers' exits say). */
  async destroy(): Promise<void> {
    clearTimeout(this.stealTimer);
    // The running tasks' signals fire first (their workers stop right after).
    for (const batch of this.inFlight.values()) {
      if (batch.child) {
        this.host.tell(batch.child, { __rxpool__: 'abort', abort: batch.id, reason: 'cancel' });
      } else if (batch.control) {
        this.links.get(batch.control.thread(batch.row))?.abort(batch.id, 'cancel');
      }
    }
    const parked = this.parked;
    this.parked = [];
    for (const batch of parked) this.settle(batch, { type: 'aborted' });
    await this.host.destroy();
  }

  run(
    given: ExecutorBatch,
    report: (outcome: BatchOutcome) => void,
    values?: ValuesListener,
  ): RunningBatch {
    const inputs = given.inputs as unknown[];
    let transferList = given.transferList as TransferListItem[] | undefined;
    const ref = this.threads ? this.takeRow() : undefined;
    const packed = packNumbers(inputs);
    if (packed && this.threads) transferList = [...(transferList ?? []), packed.buffer];
    const id = this.nextId++;
    const { maxTasksPerWorker } = this.options;
    const batch: InFlightBatch = {
      id,
      request: {
        id,
        work: given.work,
        spans: given.spans,
        inputs: packed ?? inputs,
        setup: this.options.setup,
        maxItems: Number.isFinite(maxTasksPerWorker) ? maxTasksPerWorker : 0,
        teardown: this.options.teardown,
        maxHeapBytes: (this.options.recycleMemoryMb ?? 0) * 1024 * 1024,
        control: ref,
        // The engine times items that have a timeout: the worker then records each one's start.
        timed: given.timeout !== undefined,
        jsonResults: wire.jsonResults,
        traces: given.traces,
        flat: given.flat && { key: id, highWaterMark: given.flat.highWaterMark },
      },
      inputs,
      transferList,
      count: inputs.length,
      control: ref && (ref.buffer ? new ControlBlock(ref.buffer, 1) : this.control),
      row: ref?.row ?? 0,
      ref,
      short: this.placement.isShort(given.expectedMs),
      // A flat batch's credit goes to the link it was posted to.
      movable: (given.transferList?.length ?? 0) === 0 && given.flat === undefined,
      postedAt: 0,
      child: undefined,
      handedAt: 0,
      unsent: undefined,
      values: given.flat ? values : undefined,
      cancel: undefined,
      report,
      finished: false,
      aborted: false,
      stopping: false,
    };
    this.inFlight.set(id, batch);
    if (!this.threads) {
      return runInChild(this.host, batch, this.abortGrace, {
        settle: (b, outcome) => this.settle(b, outcome),
        done: (response, b) => this.done(response, b),
        failure: (b, error) => this.failure(b, error),
        values: (message) => this.flatValues(message),
      });
    }
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
      grant: (position, count) => this.tell(batch, { flatKey: id, position, grant: count }),
    };
  }

  /** A flat batch's values came: they go to the engine, unless the batch is over. */
  private flatValues(message: FlatValues): void {
    const batch = this.inFlight.get(message.flatKey);
    if (message.before) for (const part of message.before) this.flatPart(batch, part);
    this.flatPart(batch, message);
  }

  private flatPart(batch: InFlightBatch | undefined, part: FlatPart): void {
    if (!batch || batch.finished || batch.aborted) return;
    const { failure } = part;
    batch.values?.(
      part.position,
      unpackValues(part.values),
      part.end && { failure: failure === undefined ? undefined : toFailure(failure) },
    );
  }

  /** Thread runtime: a flat message to the worker that took the batch. */
  private tell(batch: InFlightBatch, message: FlatControl): void {
    if (batch.finished) return;
    const threadId = batch.control!.thread(batch.row);
    this.links.get(threadId)?.send(message);
  }

  /** Thread runtime: `RunningBatch.abort`. */
  private abort(batch: InFlightBatch, reason: 'cancel' | 'timeout'): void {
    if (batch.aborted || batch.finished || batch.stopping) return;
    batch.aborted = true;
    const at = this.parked.indexOf(batch);
    if (at >= 0) {
      this.parked.splice(at, 1);
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
    batch.abortedFor = reason;
    link.abort(batch.id, reason);
    if (batch.request.flat !== undefined) {
      // A flat item is told to stop too, which it hears between values: its iterator's
      // `return()` runs in the worker (a generator's `finally` blocks with it) before it answers.
      link.send({ flatKey: batch.id, stop: true });
      link.cancelRunning(batch, Math.max(FLAT_CANCEL_GRACE_MS, this.abortGrace), stop);
      return;
    }
    // A task that awaits (or a timed batch between its tasks' calls) gets the grace; a cancelled
    // batch of synchronous items answers between items, or is stopped after a short grace.
    const awaits = reason === 'timeout' || control!.awaiting(row);
    link.cancelRunning(batch, awaits ? this.abortGrace : CANCEL_GRACE_MS, stop);
  }

  /**
   * Gives a batch to a link, or parks it behind those that wait already (in order: a long batch
   * that waits for an idle link is not passed by the short ones that come after it). Starts a
   * round of hellos while fewer workers than `size` have a link.
   */
  private place(batch: InFlightBatch): void {
    this.placement.placing(batch.short);
    if (this.short()) this.greet();
    if (this.parked.length > 0 || !this.tryPost(batch)) this.parked.push(batch);
  }

  /** Posts a batch where placement says; `false`: no link has room for it. */
  private tryPost(batch: InFlightBatch): boolean {
    const target = this.placement.choose(this.links.values(), batch.short);
    if (target === undefined) return false;
    this.post(target, batch);
    return true;
  }

  /** Posts the batches that wait, in order, as far as links have room. */
  private unpark(): void {
    while (this.parked.length > 0 && this.tryPost(this.parked[0]!)) this.parked.shift();
    if ((this.parked.length > 0 && this.links.size < this.size) || this.spareWanted()) this.greet();
  }

  /** Fewer workers have links than the pool needs: `size`, and a spare if one is wanted. */
  private short(): boolean {
    return this.links.size < this.size || this.spareWanted();
  }

  private spareWanted(): boolean {
    return this.wantSpare && workers.spare && this.spare === undefined;
  }

  /** Resolves once every worker has a link (after a round of hellos), or none can start. */
  private linked(): Promise<void> {
    if (this.links.size >= this.size && !this.greeting) return Promise.resolve();
    return new Promise((resolve) => {
      this.greeted.push(resolve);
      this.greet();
    });
  }

  /**
   * Sends a hello to every worker at once, each with a new port. The host gives each to a worker
   * that holds no task, and each worker holds its hello until all have answered: so every worker
   * gets one, those that had no link take theirs (new workers are started for the hellos that
   * wait), and the others just answer. Then all hellos are released.
   */
  private greet(): void {
    if (!this.host.open) {
      for (const resolve of this.greeted.splice(0)) resolve();
      return;
    }
    if (this.greeting) return;
    this.greeting = true;
    const answered: MessagePort[] = [];
    // One hello a worker: `size`, and the spare's, if one is wanted.
    const hellos = this.size + (this.spareWanted() ? 1 : 0);
    let pending = hellos;
    let adopted = 0;
    let failure: unknown;
    const settled = () => {
      if (--pending > 0) return;
      this.greeting = false;
      for (const resolve of this.greeted.splice(0)) resolve();
      for (const port of answered) port.postMessage({ release: true } satisfies Release);
      const startFailure = this.startFailure;
      this.startFailure = undefined;
      // Workers that cannot start: what waits for a link fails, rather than waiting forever.
      if (adopted === 0 && this.links.size === 0 && (failure !== undefined || startFailure)) {
        const parked = this.parked;
        this.parked = [];
        for (const batch of parked) {
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
        while (this.parked.length > 0 && this.tryPost(this.parked[0]!)) this.parked.shift();
      }
    };
    for (let i = 0; i < hellos; i++) {
      const { port1, port2 } = new MessageChannel();
      let link: WorkerLink | undefined;
      let replied = false;
      const stop = new AbortController();
      this.unanswered.add(stop);
      port1.on('message', (message: HelloReply | LinkReply) => {
        if (link) {
          this.answer(link, message as LinkReply | FlatValues);
          return;
        }
        if (replied) return;
        replied = true;
        this.unanswered.delete(stop);
        answered.push(port1);
        const hello = message as HelloReply;
        if (hello.adopted) {
          adopted++;
          // A worker the host may have started after its last look: its exit must be watched
          // before it gets a batch (a silent `process.exit` would hang it).
          this.host.watchNewWorkers();
          link = new WorkerLink(hello.threadId, port1, (l, reply) => this.answer(l, reply));
          if (this.links.size >= this.size && this.spareWanted()) {
            this.spare = link;
          } else {
            this.links.set(link.threadId, link);
            this.unpark();
          }
          this.retireWhenIdle(link);
        }
        settled();
      });
      port1.unref();
      this.host
        .run({ hello: port2 } satisfies Hello, { transferList: [port2], signal: stop.signal })
        .then(
          () => {},
          (error: unknown) => {
            if (replied) return;
            replied = true;
            this.unanswered.delete(stop);
            failure = error;
            port1.close();
            settled();
          },
        );
    }
  }

  /**
   * A worker died before it was ready (its entry file is missing, a preload throws): the host
   * starts no other for what waits. Thread runtime: the hellos no worker answered are stopped, and
   * once the round is over, the batches that wait for a link fail with `error` if no worker has
   * one. Process runtime: with no worker ready, the batches not handed to a child fail with it.
   */
  private cannotStart(error: Error, anyReady: boolean): void {
    if (this.threads) {
      if (!this.greeting) return;
      this.startFailure ??= error;
      const stops = [...this.unanswered];
      this.unanswered.clear();
      for (const stop of stops) stop.abort();
      return;
    }
    if (anyReady) return;
    for (const batch of [...this.inFlight.values()]) {
      if (batch.child !== undefined || batch.finished) continue;
      batch.aborted = true;
      this.settle(batch, cannotStart(batch, error));
      batch.cancel?.();
    }
  }

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
    if (behind) this.lookForSteals();
    batch.postedAt = this.placement.now();
    this.placement.posted(batch.postedAt);
  }

  /** Batches wait behind others on their links: look again in a while (see `steal`). */
  private lookForSteals(): void {
    if (this.stealTimer !== undefined) return;
    this.stealTimer = setTimeout(() => {
      this.stealTimer = undefined;
      this.steal();
    }, STEAL_AFTER_MS);
    this.stealTimer.unref();
  }

  /**
   * Moves each batch that has waited long enough behind another on its link (Placement's
   * `overdue`), and has not started, to an idle link: a batch thought short that turns out long
   * (items that got slower) then holds up only itself. With fewer links getting short batches
   * (`activeLinks`), it is also what brings an idle worker back, at once, when they are needed.
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
        this.move(batch, link, idle);
      }
    }
    if (waiting) this.lookForSteals();
  }

  /** Moves a batch that has not started from one link to another (see `steal`). */
  private move(batch: InFlightBatch, from: WorkerLink, to: WorkerLink): void {
    const { control, row, ref } = batch;
    control!.cancel(row);
    // Its worker took it meanwhile: it runs there, or skips it and its items go again.
    if (control!.thread(row) !== 0) return;
    // Its worker will skip it, and answer: its row is taken until then.
    from.batches.delete(batch.id);
    from.moved.set(batch.id, ref!);
    const next = this.takeRow();
    batch.ref = next;
    batch.control = next.buffer ? new ControlBlock(next.buffer, 1) : this.control;
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
        if (!ref.buffer) this.releaseRow(ref.row);
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
    link.retireWhenIdle(this.options.idleTimeout, () => {
      if (!this.options.teardown) {
        this.host.stop(link.threadId, RETIRE);
        return;
      }
      // No new batch goes to it while its teardown runs.
      this.links.delete(link.threadId);
      this.retiring.set(link.threadId, link);
      void this.tearDown(link).then(() => this.host.stop(link.threadId, RETIRE));
    });
  }

  /**
   * A linked worker is gone (it exited, was stopped or retired): its batches fail, or go again if
   * they never started.
   */
  private unlink(threadId: number, reason: Error): void {
    if (this.spare?.threadId === threadId) {
      this.spare.close();
      this.spare = undefined;
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
      const spare = this.spare;
      this.spare = undefined;
      if (spare && this.host.open) this.links.set(spare.threadId, spare);
    }
    const { batches, moved } = link.close();
    for (const ref of moved) if (!ref.buffer) this.releaseRow(ref.row);
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

  /**
   * A batch is over: its row is free again (its worker is done with it), and its outcome goes to
   * the engine unless an abort already settled it.
   */
  private settle(batch: InFlightBatch, outcome: BatchOutcome): void {
    if (!this.inFlight.delete(batch.id)) return;
    if (batch.ref && !batch.ref.buffer) this.releaseRow(batch.row);
    finish(batch, outcome);
  }

  /**
   * What became of a batch whose task failed, or whose worker went under it. `arriving`: its worker
   * died while it was on its way in (see `unlink`).
   */
  private failure(batch: InFlightBatch, error: unknown, arriving = false): BatchOutcome {
    const { control, row } = batch;
    const exitCode = control?.exitCode(row);
    if (exitCode !== undefined && (!batch.aborted || batch.stopping)) {
      // Its worker called process.exit under it: a crash, even if a timeout stopped it since.
      const position = control!.position(row);
      return {
        type: 'crashed',
        error: exitError(exitCode),
        position: position < batch.count ? position : undefined,
      };
    }
    if (batch.aborted) return { type: 'aborted' };
    if (error === RETIRE || error === STOPPED) return { type: 'lost' };
    // Given to a worker that was being stopped: it never ran there, so it goes again.
    if (this.host.isTerminationError(error)) {
      return this.host.open ? { type: 'lost' } : { type: 'aborted' };
    }
    const { threads } = this;
    if (batch.unsent !== undefined) return unsendable(batch.unsent, batch.inputs, threads);
    const failure = error instanceof Error ? error : reviveLoose(error);
    if (isCloneError(failure)) return unsendable(failure, batch.inputs, threads);
    if (!threads && batch.child === undefined) {
      // Process runtime, never handed to a child: the host's own clone of the task (into the port
      // it relays from) may have thrown, a getter of an input say. Then an input is at fault.
      const blamed = culprits(batch.inputs, true);
      if (blamed.size > 0) return { type: 'unsendable', blamed };
    }
    // No worker can start: the batch fails, rather than waiting for a worker again and again.
    if (this.host.isStartError(failure))
      return { type: 'crashed', error: failure, position: undefined };
    // Its worker died while it waited behind another batch: it never ran, so it goes again.
    if (control && control.thread(row) === 0 && !arriving) return { type: 'lost' };
    const position = control && control.startedAt(row) !== 0 ? control.position(row) : undefined;
    return {
      type: 'crashed',
      error: crashError(failure),
      position: position !== undefined && position < batch.count ? position : undefined,
    };
  }

  /** The outcome of a batch that ran; a reply that cannot be read fails the batch as a crash. */
  private done(response: BatchResponse, batch: InFlightBatch): BatchOutcome {
    try {
      const outcome = this.read(response);
      // It answered the abort of its timeout: the item that ran past it fails as timed out.
      return batch.abortedFor === 'timeout' && outcome.type === 'done'
        ? { ...outcome, stopped: true }
        : outcome;
    } catch (error) {
      return {
        type: 'crashed',
        error: error instanceof Error ? error : reviveLoose(error),
        position: undefined,
      };
    }
  }

  private read(response: BatchResponse): BatchOutcome {
    if (response.teardownError) reportTeardown(reviveError(response.teardownError));
    if (response.retire) this.host.stop(response.workerId, RETIRE);
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
      values: response.json === undefined ? response.values : JSON.parse(response.json),
      failures,
      count: response.count,
      ms: response.ms,
      workerId: response.workerId,
    };
  }

  private takeRow(): ControlRef {
    const row = this.freeRows.pop();
    if (row !== undefined) return { row };
    return { row: 0, buffer: ControlBlock.create(1).buffer };
  }

  private releaseRow(row: number): void {
    this.control.reset(row);
    this.freeRows.push(row);
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

/** How long past a worker's own teardown limit the main side waits for its answer. */
const TEARDOWN_MARGIN_MS = 100;

/**
 * A teardown failed (threw, or ran past its limit): reported as a process warning, since the
 * worker is going and no item is to blame; `close()` goes on.
 */
function reportTeardown(error: Error): void {
  process.emitWarning(error.message, { type: 'RxpoolTeardownWarning', detail: error.stack });
}

/** The default worker count: `os.availableParallelism()`. */
export function defaultSize(): number {
  return availableParallelism();
}

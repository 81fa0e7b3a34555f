/**
 * The default executor: batches run on tinypool workers (threads or processes).
 *
 * Thread workers are reached through sessions: a session is a tinypool task that holds its worker
 * and hands it a `MessagePort`, on which batches come and go until the session has been idle a
 * while (`SESSION_IDLE_MS`). A batch then costs one message each way; a tinypool task per batch
 * would add tens of microseconds of bookkeeping on both sides (a task record, waking the worker
 * from `Atomics.wait`, reading the worker's memory use), which is most of an idle pool's latency.
 * Process workers take one tinypool task per batch.
 *
 * It also works around what tinypool does not do: a thread worker that calls `process.exit` is
 * never noticed by tinypool (its task would hang), so every worker's `exit` is watched here and
 * turned into the `error` that tinypool does handle; a worker is retired (`maxTasksPerWorker`, a
 * failed setup) or stopped (a timeout, a cancelled stream) the same way.
 *
 * Thread workers share a block of control cells (which item runs, since when, which thread took
 * a batch, and a cancel flag), so that a batch can be timed, stopped, or skipped while it waits
 * behind another in its session.
 */

import { availableParallelism } from 'node:os';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Tinypool } from 'tinypool';
import { TARGET_BATCH_MS } from '../engine/batching.js';
import type { Attempt, BatchHints, BatchOutcome, ItemFailure } from '../engine/executor.js';
import { SlotExecutor } from '../engine/executor.js';
import { AbortError } from '../errors.js';
import type { Transferable } from '../types.js';
import { findUncloneable } from './clone.js';
import {
  type BatchRequest,
  type BatchResponse,
  ControlBlock,
  type ControlRef,
  packNumbers,
  type SessionBatch,
  type SessionEnd,
  type SessionOpen,
  type SessionReply,
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

/** Counters for `pool.stats()`. */
export interface ExecutorCounters {
  completed: number;
  failed: number;
  /** When the first batch was sent (`performance.now()`), or `undefined`. */
  since: number | undefined;
  /** ms the workers spent running items, summed over workers. */
  runMs: number;
}

const workerFile = new URL('./worker.js', import.meta.url);
const RETIRE = new Error('rxpool: worker retired');
RETIRE.name = 'WorkerRetired';
const STOPPED = new Error('rxpool: worker stopped');
STOPPED.name = 'WorkerStopped';

type TinypoolWorker = Tinypool['threads'][number];

/**
 * Batches a session holds at once: one running, one waiting behind it, so that its worker goes
 * straight on to the next while the main thread handles the results of the last (only short
 * batches wait behind another; see `place`).
 */
const DEPTH = 2;
/** A batch expected to run this long or less may wait behind another in a session. */
const SHORT_BATCH_MS = 2 * TARGET_BATCH_MS;
/**
 * A session with no batch for this long ends, and gives its worker back to tinypool (which keeps
 * the process alive while it holds a task: this is how long a program may outlive its last item).
 */
const SESSION_IDLE_MS = 50;

/** A batch on its way to a worker, running, or waiting for a session. */
interface Sent {
  readonly id: number;
  readonly request: BatchRequest;
  readonly inputs: unknown[];
  readonly transferList: Transferable[] | undefined;
  readonly count: number;
  /** Its control cells (thread runtime). */
  readonly control: ControlBlock | undefined;
  readonly slot: number;
  readonly ref: ControlRef | undefined;
  readonly short: boolean;
  readonly finish: (outcome: BatchOutcome) => void;
  session: Session | undefined;
  aborted: boolean;
}

/** A worker held through a tinypool task, and the batches it was given. */
interface Session {
  readonly port: MessagePort;
  /** Batches posted and not answered, by id, in the order posted. */
  readonly batches: Map<number, Sent>;
  idleTimer: ReturnType<typeof setTimeout> | undefined;
}

export class TinypoolExecutor extends SlotExecutor {
  readonly size: number;
  readonly knowsPosition: boolean;
  readonly counters: ExecutorCounters = { completed: 0, failed: 0, since: undefined, runMs: 0 };
  private pool: Tinypool | undefined;
  private readonly watched = new WeakSet<object>();
  /** Batches out, until their slot is free (after their outcome, once their worker is done). */
  private readonly sent = new Set<Sent>();
  private readonly sessions = new Set<Session>();
  /** Batches that wait for a session to have room (long ones wait for an idle session). */
  private parked: Sent[] = [];
  private nextId = 0;
  /** Control cells for the batches out (thread runtime); every worker gets the block at start. */
  private readonly control: ControlBlock;
  private readonly freeSlots: number[] = [];
  private refused: Error | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: TinypoolExecutorOptions) {
    super();
    this.size = options.size;
    this.knowsPosition = options.runtime === 'thread';
    // Room for every slot twice over: a batch's slot stays taken until its worker is done with it.
    const slots = this.knowsPosition ? 2 * DEPTH * options.size : 0;
    this.control = ControlBlock.create(slots);
    for (let slot = slots - 1; slot >= 0; slot--) this.freeSlots.push(slot);
  }

  /** Two batches a session (thread runtime), one a worker (process runtime). */
  override get slots(): number {
    return this.knowsPosition ? this.size * DEPTH : this.size;
  }

  /** Items waiting for a worker: in the engines' queues, or sent in a batch not yet started. */
  override queued(): number {
    let total = super.queued();
    for (const { count, control, slot } of this.sent) {
      if (control && control.startedAt(slot) === 0) total += count;
    }
    return total;
  }

  /** Workers running a batch now (a worker may hold a second batch behind the first). */
  get running(): number {
    return Math.min(this.busy, this.size);
  }

  protected override refusal(): Error | undefined {
    return this.refused;
  }

  /** Refuses new work, waits for what was accepted, then stops the workers. */
  async close(): Promise<void> {
    this.refused ??= new Error('The pool is closed: it takes no new work');
    await new Promise<void>((resolve) => {
      this.idleWaiters.push(resolve);
      this.checkIdle();
    });
    for (const session of this.sessions) this.end(session);
    await this.pool?.destroy();
    this.pool = undefined;
  }

  /** Stops now: everything pending fails with an `AbortError`. */
  async destroy(): Promise<void> {
    this.refused = new AbortError('The pool was destroyed');
    this.killAll(this.refused);
    const parked = this.parked;
    this.parked = [];
    for (const sent of parked) this.settle(sent, { type: 'aborted' });
    const pool = this.pool;
    this.pool = undefined;
    await pool?.destroy();
    this.checkIdle();
  }

  /** Called by the base class whenever a batch ends or a client leaves. */
  protected override changed(): void {
    this.checkIdle();
  }

  private checkIdle(): void {
    if (this.idleWaiters.length === 0 || this.busy > 0 || this.attached() > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  protected launch(
    work: unknown,
    inputs: unknown[],
    transferList: Transferable[] | undefined,
    done: (outcome: BatchOutcome) => void,
    { expectedMs, timed = false }: BatchHints,
  ): Attempt {
    const pool = this.ensurePool();
    this.counters.since ??= performance.now();
    const ref = this.knowsPosition ? this.takeSlot() : undefined;
    const control = ref && (ref.buffer ? new ControlBlock(ref.buffer, 1) : this.control);
    const slot = ref?.slot ?? 0;
    const packed = packNumbers(inputs);
    if (packed && this.knowsPosition) transferList = [...(transferList ?? []), packed.buffer];
    let finished = false;
    const sent: Sent = {
      id: this.nextId++,
      request: {
        work: work as WorkSpec,
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
      finish: (outcome) => {
        if (finished) return;
        finished = true;
        done(outcome);
      },
      session: undefined,
      aborted: false,
    };
    this.sent.add(sent);
    if (control) {
      this.place(sent);
      this.watch();
      return {
        current() {
          const startedAt = control.startedAt(slot);
          return startedAt === 0 ? undefined : { position: control.position(slot), startedAt };
        },
        abort: () => {
          if (sent.aborted || finished) return;
          sent.aborted = true;
          const at = this.parked.indexOf(sent);
          if (at >= 0) {
            this.parked.splice(at, 1);
            queueMicrotask(() => this.settle(sent, { type: 'aborted' }));
            return;
          }
          control.cancel(slot);
          const threadId = control.thread(slot);
          if (threadId !== 0) {
            // Running (or done, its reply on the way): stop its worker; the batches behind it in
            // its session go again.
            this.stopWorker(threadId, STOPPED);
          } else {
            // Not started: the worker will skip it when it comes to it (and then free its slot).
            queueMicrotask(() => sent.finish({ type: 'aborted' }));
          }
        },
      };
    }
    // Process runtime: one tinypool task per batch, stopped by its signal.
    const controller = new AbortController();
    const launchedAt = performance.timeOrigin + performance.now();
    pool
      .run(sent.request, { signal: controller.signal, transferList: transferList as never })
      .then(
        (response: BatchResponse) => this.settle(sent, this.done(response)),
        (error: unknown) => this.settle(sent, this.failure(sent, error)),
      );
    this.watch();
    return {
      current: () =>
        inputs.length === 1 ? { position: 0, startedAt: launchedAt } : undefined,
      abort: () => {
        if (sent.aborted || finished) return;
        sent.aborted = true;
        controller.abort();
        this.watch();
      },
    };
  }

  /**
   * Gives a batch to a session: an idle one first, or a new one while there are fewer than
   * workers (tinypool gives it a worker that no session holds). A short batch may also wait
   * behind another in a session, and its worker goes straight on to it; a long one waits here
   * for an idle session instead, so that it never waits behind another while a worker is free.
   */
  private place(sent: Sent): void {
    let target: Session | undefined;
    let least = DEPTH;
    for (const session of this.sessions) {
      const held = session.batches.size;
      if (held === 0) {
        target = session;
        break;
      }
      if (sent.short && held < least) {
        target = session;
        least = held;
      }
    }
    if (target === undefined || target.batches.size > 0) {
      if (this.sessions.size < this.size) {
        this.open(sent);
        return;
      }
      if (target === undefined) {
        this.parked.push(sent);
        return;
      }
    }
    this.post(target, sent);
  }

  /** Places the batches that waited, as far as sessions have room. */
  private unpark(): void {
    if (this.parked.length === 0) return;
    const parked = this.parked;
    this.parked = [];
    for (const sent of parked) this.place(sent);
  }

  private open(sent: Sent): void {
    const pool = this.pool!;
    const { port1, port2 } = new MessageChannel();
    const session: Session = { port: port1, batches: new Map([[sent.id, sent]]), idleTimer: undefined };
    sent.session = session;
    this.sessions.add(session);
    port1.on('message', (reply: SessionReply) => this.answer(session, reply));
    // Tinypool holds the process open while the session's task is out; the port need not.
    port1.unref();
    const task: SessionOpen = { session: port2, first: { ...sent.request, id: sent.id } };
    pool
      .run(task, { transferList: [port2, ...(sent.transferList ?? [])] as never })
      .then(
        () => this.closed(session, undefined),
        (error: unknown) => this.closed(session, error),
      );
  }

  private post(session: Session, sent: Sent): void {
    if (session.idleTimer !== undefined) {
      clearTimeout(session.idleTimer);
      session.idleTimer = undefined;
    }
    const batch: SessionBatch = { ...sent.request, id: sent.id };
    try {
      session.port.postMessage(batch, sent.transferList ?? []);
    } catch (error) {
      queueMicrotask(() => this.settle(sent, this.failure(sent, error)));
      this.idle(session);
      return;
    }
    sent.session = session;
    session.batches.set(sent.id, sent);
  }

  /** A reply on a session's port. */
  private answer(session: Session, reply: SessionReply): void {
    const sent = session.batches.get(reply.id);
    if (!sent) return;
    session.batches.delete(reply.id);
    this.settle(
      sent,
      'response' in reply
        ? this.done(reply.response)
        : { type: 'crashed', error: reviveError(reply.broken), position: undefined },
    );
    this.idle(session);
    this.unpark();
  }

  /** Ends a session once it has had no batch for `SESSION_IDLE_MS`. */
  private idle(session: Session): void {
    if (session.batches.size > 0 || !this.sessions.has(session)) return;
    if (session.idleTimer !== undefined) clearTimeout(session.idleTimer);
    session.idleTimer = setTimeout(() => {
      session.idleTimer = undefined;
      if (session.batches.size === 0) this.end(session);
    }, SESSION_IDLE_MS);
    session.idleTimer.unref();
  }

  /** Ends an idle session: its worker closes the port, and its task settles. */
  private end(session: Session): void {
    if (!this.sessions.delete(session)) return;
    if (session.idleTimer !== undefined) clearTimeout(session.idleTimer);
    session.port.postMessage({ end: true } satisfies SessionEnd);
  }

  /**
   * A session's task settled: it was ended, or its worker died, was stopped or retired. Its
   * batches that are still out fail, or go again if they never started.
   */
  private closed(session: Session, error: unknown): void {
    this.sessions.delete(session);
    if (session.idleTimer !== undefined) clearTimeout(session.idleTimer);
    session.port.close();
    const batches = [...session.batches.values()];
    session.batches.clear();
    for (const sent of batches) {
      this.settle(sent, this.failure(sent, error ?? new Error('The session ended early')));
    }
    this.watch();
    this.unpark();
  }

  /**
   * A batch is over: its slot is free again (its worker is done with it), and its outcome goes
   * to the engine unless an abort already settled it.
   */
  private settle(sent: Sent, outcome: BatchOutcome): void {
    if (!this.sent.delete(sent)) return;
    if (sent.ref && !sent.ref.buffer) this.releaseSlot(sent.slot);
    sent.finish(outcome);
  }

  /** What became of a batch whose task failed, or whose session ended under it. */
  private failure(sent: Sent, error: unknown): BatchOutcome {
    if (sent.aborted) return { type: 'aborted' };
    if (error === RETIRE || error === STOPPED) return { type: 'lost' };
    // Tinypool can hand a task to a worker it is already terminating (a late reply marks the
    // dying worker available again); the task never ran there, so it goes again.
    if (error instanceof Error && error.message === 'Terminating worker thread') {
      return this.pool ? { type: 'lost' } : { type: 'aborted' };
    }
    const failure = error instanceof Error ? error : reviveLoose(error);
    if (isCloneError(failure)) return unsendable(failure, sent.inputs);
    const { control, slot } = sent;
    // Its worker died while it waited behind another batch: it never ran, so it goes again.
    if (control && control.thread(slot) === 0) return { type: 'lost' };
    const position = control && control.startedAt(slot) !== 0 ? control.position(slot) : undefined;
    this.counters.failed++;
    return {
      type: 'crashed',
      error: crashError(failure),
      position: position !== undefined && position < sent.count ? position : undefined,
    };
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
    let failed = 0;
    if (response.failures) {
      failures = new Array(response.count);
      for (let i = 0; i < response.count; i++) {
        const wire = response.failures[i];
        if (wire) {
          failed++;
          failures[i] = toFailure(wire);
        }
      }
    }
    this.counters.runMs += response.ms;
    this.counters.completed += response.count - failed;
    this.counters.failed += failed;
    return {
      type: 'done',
      values: response.values,
      failures,
      count: response.count,
      ms: response.ms,
      startedAt: response.startedAt,
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
    const pool = new Tinypool({
      filename: workerFile.href,
      runtime: runtime === 'process' ? 'child_process' : 'worker_threads',
      minThreads: keep ? size : 0,
      maxThreads: size,
      idleTimeout: keep ? 0 : idleTimeout,
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
   * Turns the silent exit of a thread worker (`process.exit`) into an `error` event, which tinypool
   * handles by failing the worker's task and replacing the worker. Process workers do this in
   * tinypool already. Called whenever workers may have been added.
   */
  private watch(): void {
    if (!this.pool) return;
    for (const worker of this.pool.threads) {
      if (this.watched.has(worker)) continue;
      this.watched.add(worker);
      const thread = (worker as { thread?: import('node:worker_threads').Worker }).thread;
      if (!thread) continue;
      let stopping = false;
      const terminate = worker.terminate.bind(worker);
      worker.terminate = () => {
        stopping = true;
        return terminate();
      };
      thread.once('exit', (code) => {
        if (stopping) return;
        const error = new Error(`The worker exited with code ${code} while running this item`);
        error.name = 'WorkerExit';
        Object.assign(error, { exitCode: code });
        worker.emit('error', error);
        this.watch();
      });
    }
  }

  private retire(workerId: number): void {
    this.stopWorker(workerId, RETIRE);
  }

  /** Stops a worker the way tinypool handles: its tasks fail with `reason`, and it is replaced. */
  private stopWorker(workerId: number, reason: Error): void {
    const worker = this.pool?.threads.find((w: TinypoolWorker) => w.threadId === workerId);
    worker?.emit('error', reason);
    this.watch();
  }
}

function toFailure(wire: WireError): ItemFailure {
  return { error: reviveError(wire), retryable: wire.fatal === undefined, hint: wire.hint };
}

function isCloneError(error: Error): boolean {
  return error.name === 'DataCloneError' || /could not be cloned/.test(error.message);
}

function unsendable(error: Error, inputs: unknown[]): BatchOutcome {
  const blamed = new Map<number, Error>();
  for (let i = 0; i < inputs.length; i++) {
    const problem = findUncloneable(inputs[i], 'the input');
    if (problem) blamed.set(i, cloneError(`${problem}, so it cannot be sent to a worker`));
  }
  if (blamed.size === 0 && inputs.length === 1) blamed.set(0, cloneError(error.message));
  return { type: 'unsendable', blamed: blamed.size > 0 ? blamed : undefined };
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

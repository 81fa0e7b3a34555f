/**
 * The default executor: batches run on tinypool workers (threads or processes).
 *
 * It works around what tinypool does not do: a thread worker that calls `process.exit` is never
 * noticed by tinypool (its task would hang), so every worker's `exit` is watched here and turned
 * into the `error` that tinypool does handle; a worker is retired (`maxTasksPerWorker`, a failed
 * setup) or stopped (a timeout, a cancelled stream) the same way.
 *
 * Thread workers share a block of control cells (which item runs, since when, which thread took
 * a batch, and a cancel flag), so a batch can be stopped or skipped without tinypool's signal;
 * that lets a worker hold a second short batch while it runs one (see `launch`).
 */

import { availableParallelism } from 'node:os';
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
 * Batches a thread worker holds at once: one running, one waiting in its queue, so that it goes
 * straight on to the next while the main thread handles the results of the last (only short
 * batches wait in a worker's queue; see `launch`).
 */
const DEPTH = 2;
/** A batch expected to run this long or less may wait behind another in a worker's queue. */
const SHORT_BATCH_MS = 2 * TARGET_BATCH_MS;

export class TinypoolExecutor extends SlotExecutor {
  readonly size: number;
  readonly knowsPosition: boolean;
  readonly counters: ExecutorCounters = { completed: 0, failed: 0, since: undefined, runMs: 0 };
  private pool: Tinypool | undefined;
  private readonly watched = new WeakSet<object>();
  /** Thread workers that are up (have told tinypool they are ready) and alive. */
  private ready = 0;
  /** Batches out, and their timing cells (thread runtime) that tell whether one has started. */
  private readonly sent = new Set<{
    count: number;
    control: ControlBlock | undefined;
    slot: number;
  }>();
  /** Control cells for the batches out (thread runtime); every worker gets the block at start. */
  private readonly control: ControlBlock;
  private readonly freeSlots: number[] = [];
  /**
   * Tasks tinypool holds (sent and not settled there): more than `busy` for a moment after an
   * abort settled a batch that its worker has yet to skip.
   */
  private pending = 0;
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

  /**
   * Two batches a worker once every worker is up. While one is starting (at first, or replacing
   * one that was stopped), one each: tinypool would give a second batch to a busy worker rather
   * than wait for the new one, and items that should run side by side would queue.
   */
  override get slots(): number {
    return this.knowsPosition && this.ready >= this.size ? this.size * DEPTH : this.size;
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
    await this.pool?.destroy();
    this.pool = undefined;
  }

  /** Stops now: everything pending fails with an `AbortError`. */
  async destroy(): Promise<void> {
    this.refused = new AbortError('The pool was destroyed');
    this.killAll(this.refused);
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
    const request: BatchRequest = {
      work: work as WorkSpec,
      inputs: packed ?? inputs,
      setup: this.options.setup,
      maxItems: Number.isFinite(this.options.maxTasksPerWorker)
        ? this.options.maxTasksPerWorker
        : 0,
      control: ref,
      timed,
    };
    // Thread workers are stopped through the control block; process workers by signal. A task
    // with a signal gets an idle worker of its own from tinypool (it waits in tinypool's queue
    // for one, and no other task waits behind it). A batch goes without one, so it may wait
    // behind another batch in a worker's queue, only when all workers are up and it is known to
    // be short: then the worker goes straight on to it, and the wait is short too. Tinypool
    // picks an idle worker first, so while batches are fewer than workers, none waits.
    const shareable =
      control !== undefined &&
      this.ready >= this.size &&
      (this.pending < this.size || (expectedMs !== undefined && expectedMs <= SHORT_BATCH_MS));
    const controller = shareable ? undefined : new AbortController();
    let aborted = false;
    let finished = false;
    const sent = { count: inputs.length, control, slot };
    this.sent.add(sent);
    const finish = (outcome: BatchOutcome) => {
      if (finished) return;
      finished = true;
      this.sent.delete(sent);
      done(outcome);
    };
    const launchedAt = performance.timeOrigin + performance.now();
    this.pending++;
    const running = pool.run(request, {
      signal: controller?.signal,
      transferList: transferList as never,
    });
    running
      .then(
        (response: BatchResponse) => this.done(response),
        (error: unknown): BatchOutcome => {
          this.watch();
          if (aborted) return { type: 'aborted' };
          if (error === RETIRE || error === STOPPED) return { type: 'lost' };
          // Tinypool can hand a task to a worker it is already terminating (a late reply marks
          // the dying worker available again); the task never ran there, so it goes again.
          if (error instanceof Error && error.message === 'Terminating worker thread') {
            if (this.pool === pool) return { type: 'lost' };
            return { type: 'aborted' };
          }
          const failure = error instanceof Error ? error : reviveLoose(error);
          if (isCloneError(failure)) return unsendable(failure, inputs);
          // Its worker died while it waited behind another batch: it never ran, so it goes again.
          if (control && control.thread(slot) === 0) return { type: 'lost' };
          const position =
            control && control.startedAt(slot) !== 0 ? control.position(slot) : undefined;
          this.counters.failed++;
          return {
            type: 'crashed',
            error: crashError(failure),
            position: position !== undefined && position < inputs.length ? position : undefined,
          };
        },
      )
      .then(
        (outcome) => outcome,
        // Reading the reply failed (it should not): the batch fails rather than hangs.
        (error: unknown): BatchOutcome => ({
          type: 'crashed',
          error: error instanceof Error ? error : reviveLoose(error),
          position: undefined,
        }),
      )
      .then((outcome) => {
        // The slot is free again once its worker is done with it (not when an abort settled
        // early), and once the outcome above has read it.
        this.pending--;
        if (ref && !ref.buffer) this.releaseSlot(slot);
        finish(outcome);
      });
    this.watch();
    return {
      current() {
        if (control) {
          const startedAt = control.startedAt(slot);
          return startedAt === 0 ? undefined : { position: control.position(slot), startedAt };
        }
        return inputs.length === 1 ? { position: 0, startedAt: launchedAt } : undefined;
      },
      abort: () => {
        if (aborted || finished) return;
        aborted = true;
        if (!control) {
          controller?.abort();
          this.watch();
          return;
        }
        control.cancel(slot);
        const threadId = control.thread(slot);
        if (threadId !== 0) {
          // Running (or done, its reply on the way): stop its worker; a batch waiting behind it
          // there fails with STOPPED and goes again.
          this.stopWorker(threadId, STOPPED);
        } else {
          // Not started: the worker will skip it when it comes to it.
          queueMicrotask(() => finish({ type: 'aborted' }));
        }
      },
    };
  }

  private done(response: BatchResponse): BatchOutcome {
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
      concurrentTasksPerWorker: this.knowsPosition ? DEPTH : 1,
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
      let up = false;
      const terminate = worker.terminate.bind(worker);
      const down = () => {
        if (up) this.ready--;
        up = false;
      };
      worker.terminate = () => {
        stopping = true;
        down();
        return terminate();
      };
      thread.on('message', (message: { ready?: unknown } | null) => {
        if (up || message?.ready !== true) return;
        up = true;
        this.ready++;
        this.refill();
      });
      thread.once('exit', (code) => {
        down();
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

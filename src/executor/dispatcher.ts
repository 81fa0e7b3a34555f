/**
 * The Dispatcher: what a pool holds between its streams' engines and its executor. It gives the
 * engines fair turns (those with work wait in a ring and get one batch a turn while the executor
 * has capacity, so one busy stream cannot starve another), counts the batches out against
 * `capacity()`, keeps the histograms and counters of `pool.stats()`, waits for the engines to finish
 * on `close()`, and holds the process alive while any batch is out. No executor inherits it: an
 * executor only implements {@link Executor}.
 */

import { AbortError } from '../errors.js';
import { traceCapture } from '../wire/trace-context.js';
import type { TraceCarrier } from '../wire/work.js';
import type {
  BatchOutcome,
  Executor,
  ExecutorBatch,
  ExecutorTraits,
  RunningBatch,
  ValuesListener,
} from './contract.js';
import { Histogram } from './histogram.js';
import { itemChannel, itemTracing } from './item-channel.js';

/** An engine, as the Dispatcher sees it: it asks for turns and fills each with one batch. */
export interface DispatchClient {
  /** Items waiting for a batch. */
  queued(): number;
  /** Your turn: submit one batch. Returns whether more items still wait. */
  dispatch(): boolean;
  /** The pool is going away: fail everything with `error`. */
  kill(error: Error): void;
}

/** The longest `setInterval` delay: the hold's interval never fires. */
const NEVER_MS = 2 ** 31 - 1;

export class Dispatcher {
  readonly size: number;
  readonly traits: ExecutorTraits;
  /** Run time per item (each item of a batch at the batch's time over its items), in ms. */
  readonly runTimes = new Histogram();
  /** Time from an item's queueing to its batch's start, in ms (the engines add them). */
  readonly waitTimes = new Histogram();
  /**
   * Attempts of items that failed (threw, timed out, crashed their worker, could not be sent), as
   * the engines charge them: only an engine knows which item of a stopped batch ran past its
   * timeout.
   */
  failedAttempts = 0;
  /** Items that ran and succeeded. */
  completed = 0;
  /**
   * What each stream captures the OpenTelemetry context of its items with, asked when it starts:
   * `undefined` without `@opentelemetry/api` installed or anything registered with it
   * (src/wire/trace-context.ts).
   */
  captureTrace: () => (() => TraceCarrier | undefined) | undefined = traceCapture;
  /** The `rxpool:item` tracing channel, which the engines publish each attempt on. */
  readonly itemChannel = itemChannel;
  /** Whether anything subscribes to {@link itemChannel} now. */
  readonly tracing = itemTracing;
  /** ms the executor spent running items, summed over batches. */
  runMs = 0;
  /** When the first batch went out (`performance.now()`), or `undefined`. */
  since: number | undefined;
  /** Batches out now (started, not yet reported). */
  private busy = 0;
  private readonly waiting = new Set<DispatchClient>();
  private readonly clients = new Set<DispatchClient>();
  private dispatching = false;
  private refused: Error | undefined;
  /** The close under way: resolves once the streams are done and the executor is closed. */
  private closing: Promise<void> | undefined;
  private idleWaiters: (() => void)[] = [];
  private nextStream = 0;
  /**
   * Keeps the event loop alive while a batch is out (ref'd), and lets the process exit once none
   * is (unref'd): whatever the executor does, a batch waiting for a worker that replaces one that
   * died cannot let the process exit in the middle of the work.
   */
  private readonly hold = setInterval(() => {}, NEVER_MS).unref();

  constructor(readonly executor: Executor) {
    this.size = executor.size;
    this.traits = executor.traits;
    executor.onCapacity?.(() => this.turns());
  }

  /** Batches that may be out at once now. */
  capacity(): number {
    return typeof this.executor.capacity === 'function' ? this.executor.capacity() : this.size;
  }

  /** A new stream's id (for `ExecutorBatch.stream`). */
  streamId(): string {
    return `s${this.nextStream++}`;
  }

  /** Why the pool takes no new work, once it does not (closed or destroyed). */
  get closed(): Error | undefined {
    return this.refused;
  }

  /** An engine joins; returns how it leaves. Throws once the pool is closed. */
  attach(client: DispatchClient): () => void {
    if (this.refused) throw this.refused;
    this.clients.add(client);
    return () => {
      this.clients.delete(client);
      this.waiting.delete(client);
      this.checkIdle();
    };
  }

  /** The client has items waiting; it will be called back through `dispatch()`. */
  schedule(client: DispatchClient): void {
    this.waiting.add(client);
    this.turns();
  }

  /** Starts a batch (called from `dispatch()`); `done` receives its outcome. */
  submit(
    batch: ExecutorBatch,
    done: (outcome: BatchOutcome) => void,
    values?: ValuesListener,
  ): RunningBatch {
    if (this.busy++ === 0) this.hold.ref();
    this.since ??= performance.now();
    const report = (outcome: BatchOutcome) => {
      if (--this.busy === 0) this.hold.unref();
      if (outcome.type === 'done') this.count(outcome);
      done(outcome);
      this.turns();
      this.checkIdle();
    };
    try {
      return values ? this.executor.run(batch, report, values) : this.executor.run(batch, report);
    } catch (error) {
      // The contract says `run` reports, never throws. One that throws anyway fails this batch's
      // items (each blamed with what it threw, not retried), not the stream that pushed them or
      // the pool: else the batch would stay counted out, and the hold and close() wait for ever.
      const cause = error instanceof Error ? error : new Error(String(error));
      const blamed = new Map(batch.inputs.map((_, position) => [position, cause] as const));
      queueMicrotask(() => report({ type: 'unsendable', blamed }));
      return { abort() {} };
    }
  }

  /** Workers running a batch now. */
  running(): number {
    return this.executor.stats?.().busy ?? Math.min(this.busy, this.size);
  }

  /** Items waiting: in the engines' queues, and sent to the executor but not started. */
  queued(): number {
    let total = this.executor.stats?.().queued ?? 0;
    for (const client of this.clients) total += client.queued();
    return total;
  }

  /**
   * Refuses new streams, waits for those attached to finish, then closes the executor; resolves
   * then. Only if the process is about to exit while streams are still attached (nothing runs:
   * they wait for consumers that wait for this, a `for await` loop over `pool.imap` that awaits
   * `close()` before it has taken every result) does it resolve first, so that those consumers
   * go on and take their results; the executor closes once they are done. Without that, the
   * process would exit there, silently, with the results lost.
   */
  close(): Promise<void> {
    this.refused ??= new Error('The pool is closed: it takes no new work');
    this.closing ??= new Promise<void>((resolve) => {
      this.idleWaiters.push(resolve);
      this.checkIdle();
    }).then(() => {
      // The executor's close (a worker's bounded teardown, its exit) may wait on handles that
      // hold nothing (tinypool's are unref'd): the process lives until it is done.
      this.hold.ref();
      return this.executor.close().finally(() => this.hold.unref());
    });
    const closing = this.closing;
    if (this.clients.size === 0) return closing;
    return new Promise<void>((resolve, reject) => {
      // 'beforeExit': the event loop is empty, so nothing that is waited for can come any more.
      const stalled = () => {
        if (this.clients.size > 0) resolve();
      };
      process.on('beforeExit', stalled);
      closing.then(resolve, reject).finally(() => process.off('beforeExit', stalled));
    });
  }

  /** Stops now: every stream fails with an `AbortError`, and the executor stops what is out. */
  async destroy(): Promise<void> {
    const error = new AbortError('The pool was destroyed');
    this.refused = error;
    for (const client of [...this.clients]) client.kill(error);
    this.clients.clear();
    this.waiting.clear();
    this.hold.unref();
    await this.executor.destroy();
    this.checkIdle();
  }

  private count(outcome: Extract<BatchOutcome, { type: 'done' }>): void {
    const { count, failures, ms } = outcome;
    if (count > 0) this.runTimes.add(ms / count, count);
    let failed = 0;
    if (failures) for (let i = 0; i < count; i++) if (failures[i]) failed++;
    this.completed += count - failed;
    this.runMs += ms;
  }

  /** Gives turns, one batch each, while the executor has capacity. */
  private turns(): void {
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      while (this.waiting.size > 0 && this.busy < this.capacity()) {
        const client = this.waiting.values().next().value as DispatchClient;
        this.waiting.delete(client);
        if (client.dispatch()) this.waiting.add(client);
      }
    } finally {
      this.dispatching = false;
    }
  }

  private checkIdle(): void {
    if (this.idleWaiters.length === 0 || this.busy > 0 || this.clients.size > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

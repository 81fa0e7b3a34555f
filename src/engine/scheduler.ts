/**
 * The scheduling half of an engine (./engine.ts): the path of one stream's items from the
 * source to the executor and, when an attempt fails, back into the queue. It admits items into
 * the window and the queue, cuts batches off the queue on the Dispatcher's turns, launches them
 * (their transfers, their traces, the engine-kept timeout), and decides a failed attempt's fate.
 * `Engine` extends it with the stream's face: push and cancel, what comes back, and emission.
 * One object, so the per-item paths cost no hop between the halves.
 */

import type { TaskError } from '../errors.js';
import type { BatchOutcome, FlatEnd, ItemFailure, RunningBatch } from '../executor/contract.js';
import type { Dispatcher } from '../executor/dispatcher.js';
import type { TransferListItem } from '../types.js';
import { attemptError, retries } from './attempt.js';
import { BatchSizer } from './batching.js';
import {
  type Batch,
  Chunk,
  DONE,
  FAILED,
  inputsOf,
  QUEUED,
  RUNNING,
  spansOf,
  WAITING,
} from './chunk.js';
import type { Clock } from './clock.js';
import type { EngineConfig } from './config.js';
import { DEFAULT_CONCURRENCY } from './defaults.js';
import { Deque } from './deque.js';
import { cannotStream, FlatItem } from './flat.js';
import { KeyLines } from './keys.js';
import { Order } from './order.js';
import { ProgressMeter } from './progress.js';
import { nextCheck, oneByOne } from './timeout.js';
import { ItemTraces } from './trace.js';
import { NOT_RETRIED, Transfers } from './transfer.js';
import { Window } from './window.js';

export abstract class Scheduler<In> {
  /** The items held (admitted and not emitted), and the inputs pushed beyond them. */
  protected readonly window: Window<In>;
  /** Admitted, waiting for a worker. */
  protected readonly queue = new Deque<Chunk<In>>();
  /** Items in `queue`. */
  protected queuedItems = 0;
  /** The chunk that admitted items join: the last in the queue, until it is sent. */
  protected open: Chunk<In> | undefined;
  /** What is emitted next: in source order, or in completion order. */
  protected readonly order: Order<In>;
  protected readonly running = new Set<Batch<In>>();
  /** Chunks waiting for a retry's delay, and how to cancel the wait. */
  protected readonly delayed = new Map<Chunk<In>, () => void>();
  /** With `transfer`: which items' buffers went to a worker (they cannot go again). */
  protected readonly transfers: Transfers<In> | undefined;
  protected readonly sizer: BatchSizer;
  /** With `key`: whose turn it is per key, and the items waiting for theirs. */
  protected readonly keys: KeyLines<Chunk<In>> | undefined;
  protected readonly meter: ProgressMeter | undefined;
  protected readonly trace: ItemTraces<In>;
  /** Items out in running batches. */
  protected out = 0;
  /** The source index of the next input admitted. */
  protected nextIndex = 0;
  protected closed = false;
  /** Items go one a batch (./timeout.ts). */
  private readonly oneByOne: boolean;
  /** This stream's id for the executor. */
  private readonly stream: string;

  constructor(
    protected readonly config: EngineConfig<In>,
    protected readonly dispatcher: Dispatcher,
    protected readonly clock: Clock,
  ) {
    const { traits } = dispatcher;
    if (config.flat && !traits.streams) throw cannotStream();
    this.sizer = new BatchSizer(config.batchSize, traits.targetBatchMs);
    this.window = new Window(config.concurrency ?? traits.concurrency ?? DEFAULT_CONCURRENCY);
    this.order = new Order(config.ordered);
    this.oneByOne = oneByOne(traits, config.timeout);
    this.stream = dispatcher.streamId();
    this.meter = config.progress && new ProgressMeter(config.progress, config.total, clock);
    this.transfers = config.transfer && new Transfers(config.transfer);
    this.keys = config.key && new KeyLines(config.key);
    const { traces } = config;
    this.trace = new ItemTraces(
      dispatcher.itemChannel,
      traces !== undefined ? (index) => traces[index] : dispatcher.captureTrace(),
    );
  }

  /** A batch came back (./engine.ts). */
  protected abstract settle(batch: Batch<In>, outcome: BatchOutcome): void;
  /** Values of a running flat item came, and maybe its end (./engine.ts). */
  protected abstract flatValues(
    batch: Batch<In>,
    position: number,
    values: ArrayLike<unknown>,
    end: FlatEnd | undefined,
  ): void;
  /** Moves everything that can move (./engine.ts). */
  protected abstract pump(): void;

  // DispatchClient (with `Engine.kill`)

  queued(): number {
    return this.queuedItems;
  }

  dispatch(): boolean {
    if (this.closed) return false;
    const first = this.queue.shift();
    if (!first) return false;
    const size = this.oneByOne
      ? 1
      : Math.min(
          first.cap,
          this.sizer.next(this.queuedItems, this.dispatcher.capacity(), this.out),
        );
    const chunks = [first];
    let count = this.take(first, size);
    while (count < size) {
      const chunk = this.queue.peek();
      if (!chunk || chunk.cap < size) break;
      this.queue.shift();
      chunks.push(chunk);
      count += this.take(chunk, size - count);
    }
    this.launch(chunks, count);
    return this.queue.length > 0;
  }

  // Admission: from the source into the window and the queue

  /** Admits the inputs `page[from..to)`: they join the open chunk, or a new one. */
  protected admit(page: In[], from: number, to: number): void {
    if (this.nextIndex === 0) this.meter?.start();
    if (this.keys) {
      this.admitKeyed(page, from, to);
      return;
    }
    const { flat } = this.config;
    if (flat) {
      // A chunk of one each: a flat item keeps its own values.
      for (let i = from; i < to; i++) {
        const chunk = this.chunk(page, i, i + 1);
        chunk.flat = new FlatItem(flat.highWaterMark, chunk.queuedAt);
        this.nextIndex++;
        this.window.held++;
        this.queue.push(chunk);
        this.queuedItems++;
      }
      return;
    }
    const chunk = this.open;
    if (chunk !== undefined && chunk.inputs === page && chunk.hi === from) {
      chunk.hi = to;
    } else {
      const next = this.chunk(page, from, to);
      this.open = next;
      this.queue.push(next);
    }
    const count = to - from;
    this.nextIndex += count;
    this.queuedItems += count;
    this.window.held += count;
  }

  /** A new chunk of the inputs `page[from..to)`, the last in source order. */
  private chunk(page: In[], from: number, to: number): Chunk<In> {
    const chunk = new Chunk<In>(this.nextIndex, page, from, to, 0, this.clock.now());
    this.order.add(chunk);
    return chunk;
  }

  /**
   * Admits inputs with `key`, each as a chunk of its own: it joins the queue if its key's turn is
   * free; otherwise it waits in its key's line (in the ordered list, off the queue). An input
   * whose key cannot be had fails alone.
   */
  private admitKeyed(page: In[], from: number, to: number): void {
    const keys = this.keys!;
    const { flat } = this.config;
    for (let i = from; i < to; i++) {
      const key = keys.key(page[i]);
      const chunk = this.chunk(page, i, i + 1);
      // A flat item keeps its key's turn until its end, not its first value.
      if (flat) chunk.flat = new FlatItem(flat.highWaterMark, chunk.queuedAt);
      this.nextIndex++;
      this.window.held++;
      if (typeof key === 'object') {
        this.failItem(chunk, { error: key, kind: 'threw', retryable: false }, undefined);
      } else if (keys.claim(key, chunk.first)) {
        this.queue.push(chunk);
        this.queuedItems++;
      } else {
        chunk.state = WAITING;
        keys.wait(key, chunk);
      }
    }
  }

  /** Items of `chunk` are final: each passes its key's turn to the next in line, which is queued. */
  private leave(chunk: Chunk<In>): void {
    for (let k = 0; k < chunk.length; k++) {
      const next = this.keys!.leave(chunk.first + k);
      if (next !== undefined) this.requeue([next], false);
    }
  }

  // Sending: from the queue to the executor

  /** Takes up to `max` items of a chunk just shifted from the queue; the rest goes back first. */
  private take(chunk: Chunk<In>, max: number): number {
    if (chunk.length > max) this.queue.unshift(this.split(chunk, max));
    if (this.open === chunk) this.open = undefined;
    this.queuedItems -= chunk.length;
    return chunk.length;
  }

  /** Cuts `chunk` after its first `k` items; the rest stays open to admissions if it was. */
  protected split(chunk: Chunk<In>, k: number): Chunk<In> {
    const rest = this.order.cut(chunk, k);
    if (this.open === chunk) this.open = rest;
    return rest;
  }

  private launch(chunks: Chunk<In>[], count: number): void {
    let transferList: TransferListItem[] | undefined;
    if (this.transfers) {
      ({ chunks, count } = this.transfer(chunks));
      transferList = this.transfers.takeList();
      if (count === 0) {
        this.pump();
        return;
      }
    }
    for (const chunk of chunks) chunk.state = RUNNING;
    const { timeout, flat } = this.config;
    const traces = this.dispatcher.tracing() ? this.trace.start(chunks, count) : undefined;
    const batch: Batch<In> = {
      chunks,
      count,
      running: undefined as unknown as RunningBatch,
      sentAt: this.clock.now(),
      cancelTimer: undefined,
      timedOut: undefined,
      traces,
    };
    batch.running = this.dispatcher.submit(
      {
        work: this.config.work,
        inputs: inputsOf(chunks),
        spans: spansOf(chunks, this.config.origin),
        transferList,
        timeout,
        expectedMs: this.sizer.expectedMs(count),
        traces: this.trace.of(chunks, count),
        stream: this.stream,
        flat,
      },
      (outcome) => this.settle(batch, outcome),
      flat && ((position, values, end) => this.flatValues(batch, position, values, end)),
    );
    if (flat) {
      const now = this.clock.now();
      for (let p = 0; p < chunks.length; p++) chunks[p]!.flat!.start(batch, batch.running, p, now);
    }
    if (traces) this.trace.launched(traces);
    this.running.add(batch);
    this.out += count;
    if (timeout !== undefined && !this.dispatcher.traits.enforcesTimeouts) {
      this.armTimeout(batch, timeout);
    }
  }

  /**
   * Collects the buffers that the items of a batch transfer (./transfer.ts). An item whose buffers
   * already went (a retry, or a batch-mate of a crash) or whose `transfer` throws fails, and
   * leaves the batch.
   */
  private transfer(chunks: Chunk<In>[]): { chunks: Chunk<In>[]; count: number } {
    const transfers = this.transfers!;
    const kept: Chunk<In>[] = [];
    let count = 0;
    for (let chunk of chunks) {
      let k = 0;
      while (k < chunk.length) {
        const problem = transfers.collect(chunk.first + k, chunk.inputs[chunk.lo + k]!);
        if (problem === undefined) {
          k++;
          continue;
        }
        if (k > 0) {
          const rest = this.split(chunk, k);
          kept.push(chunk);
          count += k;
          chunk = rest;
          k = 0;
        }
        const rest = chunk.length > 1 ? this.split(chunk, 1) : undefined;
        this.failItem(chunk, { error: problem, kind: 'threw', retryable: false }, undefined);
        if (!rest) break;
        chunk = rest;
      }
      if (k > 0) {
        kept.push(chunk);
        count += k;
      }
    }
    return { chunks: kept, count };
  }

  private armTimeout(batch: Batch<In>, ms: number): void {
    batch.cancelTimer = this.clock.setTimeout(() => this.checkTimeout(batch), ms);
  }

  /** The time counted is each item's own, as the executor reports how long it has run. */
  private checkTimeout(batch: Batch<In>): void {
    batch.cancelTimer = undefined;
    if (this.closed || !this.running.has(batch)) return;
    const current = batch.running.current?.();
    let elapsed: number | undefined;
    if (current && current.position < batch.count) {
      const flat = batch.chunks[current.position]?.flat;
      // A flat item's timeout bounds each wait for its next value, not counting a pause for credit.
      elapsed = flat ? flat.waited(current.elapsedMs, this.clock.now()) : current.elapsedMs;
    }
    const wait = nextCheck(this.config.timeout!, elapsed);
    if (wait !== undefined) {
      this.armTimeout(batch, wait);
    } else {
      batch.timedOut = current!.position;
      batch.running.abort('timeout');
    }
  }

  // Retries

  /**
   * An attempt of the one item of `chunk` failed: it goes again (into `again`, or after the
   * retry's delay) or fails for good (./attempt.ts says which, and as which error).
   */
  protected failItem(
    chunk: Chunk<In>,
    failure: ItemFailure | undefined,
    again: Chunk<In>[] | undefined,
  ): TaskError<In> {
    chunk.attempts++;
    this.dispatcher.failedAttempts++;
    const { flat } = chunk;
    const details = {
      index: chunk.first,
      input: chunk.inputs[chunk.lo]!,
      attempts: chunk.attempts,
      // Its values that came are emitted before its failure.
      emitted: flat && flat.emitted + flat.pending,
    };
    const { retry, timeout } = this.config;
    const error = attemptError(details, failure, timeout);
    if (!retries(retry, error, chunk.attempts, failure, flat ? flat.emitted : 0)) {
      this.failed(chunk, error);
      return error;
    }
    if (this.transfers?.has(chunk.first)) {
      // Its `transfer` buffers went to the worker with this attempt: it cannot run again, so it
      // fails now, with what this attempt gave as the cause, and says why it was not retried.
      const notRetried = attemptError(details, failure, timeout, NOT_RETRIED);
      this.failed(chunk, notRetried);
      return notRetried;
    }
    // An item that crashed its worker goes again alone: if it does it again, it takes no
    // batch-mates down with it.
    if (failure?.kind === 'crashed') chunk.cap = 1;
    const delay = retry.delay(chunk.attempts);
    if (delay > 0) {
      chunk.state = WAITING;
      this.delayed.set(
        chunk,
        this.clock.setTimeout(() => {
          this.delayed.delete(chunk);
          this.requeue([chunk]);
          this.pump();
        }, delay),
      );
    } else if (again) {
      again.push(chunk);
    } else {
      this.requeue([chunk]);
    }
    return error;
  }

  /** Puts chunks back at the head of the queue, in the order given (`!head`: one chunk, at its end). */
  protected requeue(chunks: Chunk<In>[], head = true): void {
    if (chunks.length === 0) return;
    const now = this.clock.now();
    for (let i = chunks.length - 1; i >= 0; i--) {
      const chunk = chunks[i]!;
      chunk.state = QUEUED;
      chunk.queuedAt = now;
      this.queuedItems += chunk.length;
      if (head) this.queue.unshift(chunk);
      else this.queue.push(chunk);
    }
  }

  protected succeeded(chunk: Chunk<In>, values: ArrayLike<unknown>, at: number): void {
    chunk.state = DONE;
    chunk.values = values;
    chunk.at = at;
    this.order.ready(chunk);
    if (this.keys) this.leave(chunk);
  }

  /** The one item of `chunk` failed for good. */
  private failed(chunk: Chunk<In>, error: TaskError<In>): void {
    chunk.state = FAILED;
    chunk.error = error;
    this.order.ready(chunk);
    if (this.keys) this.leave(chunk);
  }
}

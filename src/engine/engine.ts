/**
 * The engine: the one place where rxpool schedules items. One `Engine` per stream keeps the
 * in-flight window, sends items to an executor in batches, times each attempt, retries, and
 * emits results in source order or in completion order. It knows nothing of RxJS or of workers:
 * the faces (operators, `pool.imap`, `pool.map`, `pool.run`) feed it and listen to it, and an
 * executor runs the items, through the Dispatcher.
 *
 * This file is the core that ties the policies together (as RxJS's `mergeInternals` sits behind
 * its operators); each policy is a unit of its own: the window and its backlog (./window.ts), the
 * order of emission (./order.ts), the batch size (./batching.ts), what becomes of a returned
 * batch (./route.ts), a failed attempt's error and retry (./attempt.ts, ./retry.ts), timeouts
 * (./timeout.ts), moved buffers (./transfer.ts), per-key turns (./keys.ts), flat items
 * (./flat.ts), tracing (./trace.ts), progress (./progress.ts). Items travel as chunks (./chunk.ts).
 */

import type { TaskError } from '../errors.js';
import type { BatchOutcome, FlatEnd, ItemFailure, RunningBatch } from '../executor/contract.js';
import type { DispatchClient, Dispatcher } from '../executor/dispatcher.js';
import type { ItemTrace } from '../executor/item-channel.js';
import type { TransferListItem } from '../types.js';
import { attemptError, retries, stoppedError } from './attempt.js';
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
import { closedHooks, type EngineConfig, type EngineHooks } from './config.js';
import { DEFAULT_CONCURRENCY } from './defaults.js';
import { Deque } from './deque.js';
import { cannotStream, FlatItem } from './flat.js';
import { KeyLines } from './keys.js';
import { Order, type Outlet } from './order.js';
import { ProgressMeter } from './progress.js';
import { AGAIN, ALONE, FAIL, KEEP, type Route, routeOf } from './route.js';
import { nextCheck, oneByOne } from './timeout.js';
import { ItemTraces } from './trace.js';
import { NOT_RETRIED, Transfers } from './transfer.js';
import { Window } from './window.js';

export type { EngineConfig, EngineHooks } from './config.js';

export class Engine<In, Out> implements DispatchClient {
  /** The items held (admitted and not emitted), and the inputs pushed beyond them. */
  private readonly window: Window<In>;
  /** Admitted, waiting for a worker. */
  private readonly queue = new Deque<Chunk<In>>();
  /** Items in `queue`. */
  private queuedItems = 0;
  /** The chunk that admitted items join: the last in the queue, until it is sent. */
  private open: Chunk<In> | undefined;
  /** What is emitted next: in source order, or in completion order. */
  private readonly order: Order<In>;
  private readonly outlet: Outlet<In>;
  private readonly running = new Set<Batch<In>>();
  /** Chunks waiting for a retry's delay, and how to cancel the wait. */
  private readonly delayed = new Map<Chunk<In>, () => void>();
  /** With `transfer`: which items' buffers went to a worker (they cannot go again). */
  private readonly transfers: Transfers<In> | undefined;
  private readonly sizer: BatchSizer;
  /** With `key`: whose turn it is per key, and the items waiting for theirs. */
  private readonly keys: KeyLines<Chunk<In>> | undefined;
  /** Items go one a batch (./timeout.ts). */
  private readonly oneByOne: boolean;
  private readonly meter: ProgressMeter | undefined;
  private readonly trace: ItemTraces<In>;
  private readonly detach: () => void;
  /** This stream's id for the executor. */
  private readonly stream: string;
  /** Admits a run of the backlog (`Window.release`). */
  private readonly admitRun: (page: In[], from: number, to: number) => void;
  /** The traces of the batch being settled, while it is. */
  private ending: ItemTrace[] | undefined;
  /** Items out in running batches. */
  private out = 0;
  private nextIndex = 0;
  private ended = false;
  /** What the source failed with (`fail`): the engine ends with it instead of completing. */
  private sourceFailure: { readonly error: unknown } | undefined;
  private closed = false;
  private paused = false;
  private pumping = false;
  private again = false;

  constructor(
    private readonly config: EngineConfig<In>,
    private readonly dispatcher: Dispatcher,
    private readonly clock: Clock,
    private hooks: EngineHooks<In, Out>,
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
    this.admitRun = (page, from, to) => this.admit(page, from, to);
    this.outlet = {
      halted: () => this.paused || this.closed,
      value: (value, index, input) => this.hooks.value(value as Out, index, input),
      left: (index, error) => {
        this.window.held--;
        this.transfers?.delete(index);
        if (error === undefined) {
          this.meter?.emitted(false);
        } else {
          this.meter?.emitted(true);
          this.hooks.failure(error);
        }
      },
    };
    this.detach = dispatcher.attach(this);
  }

  /** Items admitted and not yet emitted: never more than `concurrency`. */
  get inFlight(): number {
    return this.window.held;
  }

  /** How many more items the window takes now. */
  get room(): number {
    return this.closed ? 0 : this.window.room;
  }

  /** Adds the next input of the source. Beyond the window it waits in a backlog. */
  push(input: In): void {
    if (this.closed || this.ended) return;
    const { window } = this;
    const page = window.store(input);
    if (this.trace.capturing) this.trace.keep(page, this.nextIndex + window.backlog);
    if (window.open) {
      this.admit(page, page.length - 1, page.length);
      // The hot path of a fast push source: when the queue already waited for a slot, every slot
      // is busy (the executor fills free slots at once), so nothing can move until one frees.
      if (this.queuedItems > 1 && !this.pumping && !this.hooks.pull) return;
    } else {
      window.defer(page);
      // The window is full: only an emission makes room, and that pumps.
      if (!this.pumping && !this.hooks.pull) return;
    }
    this.pump();
  }

  /** The source has no more inputs. */
  end(): void {
    if (this.closed || this.ended) return;
    this.ended = true;
    this.pump();
  }

  /**
   * The source failed after the inputs pushed so far. They still run and are emitted (in order
   * when `ordered`), as the items before a failed one are; then the `error` hook gets `error`
   * instead of `complete` (Python's `imap` does the same with an input that raises).
   */
  fail(error: unknown): void {
    if (this.closed || this.ended) return;
    this.sourceFailure = { error };
    this.end();
  }

  /** Stops emitting (results are held, and keep their place in the window) until `resume()`. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.pump();
  }

  /** Stops everything: queued items never run, running ones are stopped, timers are cleared. */
  cancel(): void {
    if (this.closed) return;
    this.closed = true;
    this.detach();
    const { flat } = this.config;
    for (const batch of this.running) {
      batch.cancelTimer?.();
      // A flat batch whose items all ended is only answering: stopping it could stop its worker.
      if (!flat || batch.chunks.some((chunk) => chunk.flat!.runsIn(batch))) {
        batch.running.abort('cancel');
      }
      if (batch.traces) {
        // A flat item that ended is traced already (`flatValues`).
        const { chunks } = batch;
        this.trace.stopped(
          flat ? batch.traces.filter((_, p) => chunks[p]!.flat!.runsIn(batch)) : batch.traces,
        );
      }
    }
    for (const cancelDelay of this.delayed.values()) cancelDelay();
    this.running.clear();
    this.delayed.clear();
    this.window.clear();
    this.queue.clear();
    this.order.clear();
    this.transfers?.clear();
    this.keys?.clear();
    this.open = undefined;
    this.queuedItems = 0;
    this.out = 0;
    this.sourceFailure = undefined;
    this.hooks = closedHooks;
  }

  // DispatchClient

  queued(): number {
    return this.queuedItems;
  }

  kill(error: Error): void {
    if (this.closed) return;
    const hooks = this.hooks;
    this.cancel();
    hooks.error(error);
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
  private admit(page: In[], from: number, to: number): void {
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
  private split(chunk: Chunk<In>, k: number): Chunk<In> {
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

  // Returns: what the executor gave back

  private settle(batch: Batch<In>, outcome: BatchOutcome): void {
    if (this.closed) return;
    this.running.delete(batch);
    this.out -= batch.count;
    batch.cancelTimer?.();
    this.ending = batch.traces;
    if (outcome.type === 'done') this.measure(batch, outcome);
    const route = routeOf(outcome, batch, this.config.flat !== undefined);
    if (route !== undefined) {
      this.routeReturned(batch, route);
    } else if (outcome.type === 'done') {
      // Every item ran and succeeded.
      const { values, count } = outcome;
      if (this.ending) this.trace.results(this.ending, 0, count, values);
      let at = 0;
      for (const chunk of batch.chunks) {
        this.succeeded(chunk, values, at);
        at += chunk.length;
      }
    }
    this.ending = undefined;
    this.pump();
  }

  /** Feeds a batch that ran to the batch sizer, the wait-time histogram and its traces. */
  private measure(batch: Batch<In>, outcome: Extract<BatchOutcome, { type: 'done' }>): void {
    this.sizer.observe(outcome.ms, outcome.count);
    // Durations only: the batch started when it was sent plus what it waited there, or (not
    // known) its run time before now.
    const startedAt =
      outcome.waitedMs !== undefined
        ? batch.sentAt + outcome.waitedMs
        : this.clock.now() - outcome.ms;
    // Each chunk's items that ran waited from when it was queued (sent again: anew).
    const { chunks } = batch;
    const { waitTimes } = this.dispatcher;
    let ran = outcome.count;
    for (let i = 0; i < chunks.length && ran > 0; i++) {
      const chunk = chunks[i]!;
      const k = Math.min(ran, chunk.length);
      waitTimes.add(Math.max(0, startedAt - chunk.queuedAt), k);
      ran -= k;
    }
    if (this.ending) for (const trace of this.ending) trace.workerId = outcome.workerId;
  }

  /**
   * Deals with the items of a batch that came back, by what the route (./route.ts) says of each:
   * splits the chunks where the marks change, keeps the results of the items that succeeded, fails
   * an attempt of each FAIL item, and puts the rest back at the head of the queue in source order:
   * they did not count as run.
   */
  private routeReturned(batch: Batch<In>, { mark, failure, values, cap }: Route): void {
    const again: Chunk<In>[] = [];
    const { ending } = this;
    let p = 0;
    for (let chunk of batch.chunks) {
      if (chunk.flat) {
        if (!chunk.flat.runsIn(batch)) {
          // A flat item that ended already (its `end` came with its values).
          p += chunk.length;
          continue;
        }
        chunk.flat.stop();
      }
      for (;;) {
        const length = chunk.length;
        const what = mark(p);
        // FAIL and ALONE items are split off one by one; runs of the others stay together.
        let k = 1;
        if (what === KEEP || what === AGAIN) while (k < length && mark(p + k) === what) k++;
        const rest = k < length ? this.split(chunk, k) : undefined;
        if (what === KEEP) {
          this.succeeded(chunk, values!, p);
          if (ending) this.trace.results(ending, p, k, values!);
        } else if (what === FAIL) {
          const error = this.failItem(chunk, failure?.(p), again);
          if (ending) this.trace.end(ending[p]!, error);
        } else if (chunk.flat && chunk.flat.emitted > 0) {
          // Its values were emitted: running it again would emit them twice.
          const stopped = { error: stoppedError(), kind: 'threw', retryable: false } as const;
          const error = this.failItem(chunk, stopped, again);
          if (ending) this.trace.end(ending[p]!, error);
        } else {
          if (ending) for (let i = p; i < p + k; i++) this.trace.end(ending[i]!);
          if (what === ALONE) chunk.cap = 1;
          else if (cap !== undefined) chunk.cap = Math.min(chunk.cap, cap);
          again.push(chunk);
        }
        p += k;
        if (!rest) break;
        chunk = rest;
      }
    }
    this.requeue(again);
  }

  /** Values of a running flat item came, and maybe its end. */
  private flatValues(
    batch: Batch<In>,
    position: number,
    values: ArrayLike<unknown>,
    end: FlatEnd | undefined,
  ): void {
    if (this.closed || !this.running.has(batch)) return;
    // Chunks of one: the item at `position` is the chunk there.
    const chunk = batch.chunks[position];
    const flat = chunk?.flat;
    if (!flat?.runsIn(batch)) return;
    if (values.length > 0) {
      flat.add(values, this.clock.now());
      this.order.ready(chunk!);
      // Out first, where they can go: whether the item may run again depends on it.
      if (end) this.pump();
      if (this.closed || !flat.runsIn(batch)) return;
    }
    if (end) {
      flat.stop();
      // Its attempt ends here, not with its batch (see `routeReturned`): so does its trace.
      const trace = batch.traces?.[position];
      if (end.failure) {
        const error = this.failItem(chunk!, end.failure, undefined);
        if (trace) this.trace.end(trace, error);
      } else {
        this.succeeded(chunk!, NO_VALUES, 0);
        if (trace) {
          trace.result = undefined;
          this.trace.end(trace);
        }
      }
    }
    this.pump();
  }

  /**
   * An attempt of the one item of `chunk` failed: it goes again (into `again`, or after the
   * retry's delay) or fails for good (./attempt.ts says which, and as which error).
   */
  private failItem(
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
  private requeue(chunks: Chunk<In>[], head = true): void {
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

  private succeeded(chunk: Chunk<In>, values: ArrayLike<unknown>, at: number): void {
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

  // Moving

  /**
   * Moves everything that can move: admits from the backlog, asks for slots, emits, asks the face
   * for more input, completes. Re-entrant calls (a hook that pushes or cancels) fold into a rerun.
   */
  private pump(): void {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    const { window } = this;
    try {
      do {
        this.again = false;
        if (window.backlog > 0) window.release(this.admitRun);
        if (this.queuedItems > 0) this.dispatcher.schedule(this);
        if (this.closed) return;
        // Emitting frees room in the window for what waits in the backlog: go round again.
        const emitted = this.config.flat
          ? this.order.emitFlat(this.outlet, this.clock)
          : this.order.emit(this.outlet);
        if (emitted) {
          if (window.backlog > 0) this.again = true;
          if (this.meter) this.report(false);
        }
        if (this.closed) return;
        if (this.ended) {
          if (window.held === 0 && window.backlog === 0) {
            if (this.meter) this.report(true);
            if (this.closed) return;
            const hooks = this.hooks;
            const failure = this.sourceFailure;
            this.cancel();
            if (failure) hooks.error(failure.error);
            else hooks.complete();
            return;
          }
        } else if (window.backlog === 0 && window.held < window.concurrency) {
          this.hooks.pull?.();
        }
      } while (this.again && !this.closed);
    } finally {
      this.pumping = false;
    }
  }

  /** Calls the progress callback; when it throws, the stream errors with what it threw. */
  private report(final: boolean): void {
    try {
      this.meter!.flush(this.window.held, final);
    } catch (error) {
      this.kill(error instanceof Error ? error : new Error(String(error)));
    }
  }
}

const NO_VALUES: readonly unknown[] = [];

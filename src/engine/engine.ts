/**
 * The engine: the one place where rxpool schedules items. It keeps the in-flight window, sends
 * items to an executor in batches, times each attempt, retries, and emits results in source order
 * or in completion order. It knows nothing of RxJS or of workers: the faces (operators,
 * `pool.imap`, `pool.map`, `pool.run`) feed it and listen to it, and an executor runs the items.
 */

import { AbortError, TaskError, TaskTimeoutError, WorkerCrashedError } from '../errors.js';
import type {
  BatchOutcome,
  FlatEnd,
  ItemFailure,
  ItemSpan,
  RunningBatch,
  TraceCarrier,
  WorkSpec,
} from '../executor/contract.js';
import type { DispatchClient, Dispatcher } from '../executor/dispatcher.js';
import type { ItemTrace } from '../executor/item-channel.js';
import { DEFAULT_CONCURRENCY } from '../options.js';
import type { Transferable, TransferListItem } from '../types.js';
import { BatchSizer } from './batching.js';
import type { Clock } from './clock.js';
import { Deque } from './deque.js';
import { cannotStream, FlatItem } from './flat.js';
import { type Key, KeyLines } from './keys.js';
import { type Progress, ProgressMeter } from './progress.js';
import type { RetryPolicy } from './retry.js';

/** The engine's settings, already validated. */
export interface EngineConfig<In> {
  /** What to run. */
  readonly work: WorkSpec;
  /**
   * The most items admitted and not yet emitted; `undefined`: the executor's default
   * (`ExecutorTraits.concurrency`), else `DEFAULT_CONCURRENCY`.
   */
  readonly concurrency: number | undefined;
  readonly ordered: boolean;
  readonly batchSize: number | 'auto';
  /** Per attempt, in ms; `undefined` for none. */
  readonly timeout: number | undefined;
  readonly retry: RetryPolicy;
  readonly transfer: ((input: In) => readonly Transferable[]) | undefined;
  /** Called with the counts, throttled, and once more on completion. */
  readonly progress?: ((progress: Progress) => void) | undefined;
  /** How many items the source will give, when known (for the progress ETA). */
  readonly total?: number | undefined;
  /** Per-key order (src/engine/keys.ts): throws for an input whose key cannot be had. */
  readonly key?: ((input: In) => Key) | undefined;
  /**
   * The source's items are themselves items of another stream, in these spans (a remote batch
   * that `rxpool worker` runs): a task's `context.index` and `context.attempt` are theirs.
   */
  readonly origin?: readonly ItemSpan[] | undefined;
  /**
   * The trace context of the item pushed `i`-th at `traces[i]`, given with the items (a remote
   * worker passes on its job's), instead of the OpenTelemetry context active at each push.
   */
  readonly traces?: readonly (TraceCarrier | undefined)[] | undefined;
  /**
   * Flat items (./flat.ts): each item's work gives many values, which come while it runs; the
   * most of one item's values held here and not emitted.
   */
  readonly flat?: { readonly highWaterMark: number } | undefined;
}

/** How the engine talks to its face. */
export interface EngineHooks<In, Out> {
  /**
   * An item succeeded (in source order when `ordered`); a flat item's values, one call each, as
   * they come (all of an item's before the next item's when `ordered`).
   */
  value(value: Out, index: number, input: In): void;
  /** An item failed for good (after its retries). */
  failure(error: TaskError<In>): void;
  /** The input ended and every item was emitted. */
  complete(): void;
  /**
   * The engine stopped for a reason that is no item's: the pool was destroyed, or the source
   * failed (`fail`, after the items it gave were emitted).
   */
  error(error: unknown): void;
  /** There is room in the window: a pulling face may `push` more. */
  pull?(): void;
}

const QUEUED = 0;
const RUNNING = 1;
const WAITING = 2; // a retry's delay, or its key's turn (`key`)
const DONE = 3; // every item succeeded
const FAILED = 4; // its one item failed for good

/** Most inputs in one page (an array that chunks view), so most items in one chunk. */
const PAGE_SIZE = 4096;

/**
 * A run of consecutive items of the source that move together: pushed into the same page and
 * admitted one after another, sent in the same batch, finished together. Items part ways by splitting their
 * chunk: a batch takes the first part of one, a failed item leaves its batch-mates, a crash sends
 * them back one by one. So the engine keeps no record per item, only per chunk, and a trivial item
 * costs a push into an array on the way in and a read from its batch's results on the way out.
 */
class Chunk<In> {
  state = QUEUED;
  /**
   * The most items of a batch it may go in. A batch that crashed its worker with the culprit
   * unknown goes back as halves (each batch-mate uncharged; a half that crashes again is halved
   * again), so the culprit is found in about log2(n) rounds, not n batches of one (a remote batch
   * may hold tens of thousands of items); an item that crashed its worker goes alone (1).
   */
  cap = Number.POSITIVE_INFINITY;
  /** DONE: the value of item k is `values[at + k]`. */
  values: ArrayLike<unknown> | undefined = undefined;
  at = 0;
  /** FAILED: the `TaskError` of its one item. */
  error: TaskError<In> | undefined = undefined;
  /** Items emitted so far. */
  emitted = 0;
  /** The next chunk in source order (ordered mode). */
  next: Chunk<In> | undefined = undefined;
  /** A flat stream's item (a chunk of one): its values that came, and its credit. */
  flat: FlatItem | undefined = undefined;

  constructor(
    /** The source index of its first item. */
    readonly first: number,
    /** Its items are `inputs[lo..hi)`; chunks split from one another share the array. */
    readonly inputs: In[],
    readonly lo: number,
    public hi: number,
    /** Attempts so far, the same for each of its items (they were always sent together). */
    public attempts: number,
    /** When it joined the queue. */
    public queuedAt: number,
  ) {}

  get length(): number {
    return this.hi - this.lo;
  }
}

interface Batch<In> {
  readonly chunks: Chunk<In>[];
  /** Items in the batch, over its chunks. */
  readonly count: number;
  running: RunningBatch;
  /** When it was submitted (the engine's clock). */
  readonly sentAt: number;
  cancelTimer: (() => void) | undefined;
  /** Position of the item that ran past the timeout, once the batch was stopped for it. */
  timedOut: number | undefined;
  /** Each item's `rxpool:item` trace, by position, when the channel had subscribers at launch. */
  readonly traces: ItemTrace[] | undefined;
}

// What becomes of an item of a batch that came back (see `routeReturned`).
const KEEP = 0; // succeeded
const AGAIN = 1; // goes back to the queue
const ALONE = 2; // goes back to the queue, to be sent alone
const FAIL = 3; // an attempt failed

export class Engine<In, Out> implements DispatchClient {
  /**
   * The array that pushed inputs go into, up to `PAGE_SIZE` of them. Chunks are views on these
   * arrays, so an input is stored once, whether it is admitted at once or waits for room.
   */
  private page: In[] | undefined;
  /**
   * The backlog: inputs pushed but not yet admitted (a push source faster than the window). They
   * are the end of the arrays in `waiting`, from `waitingFrom` in the first; `backlog` of them.
   */
  private readonly waiting = new Deque<In[]>();
  private waitingFrom = 0;
  private backlog = 0;
  /** Admitted, waiting for a worker. */
  private readonly queue = new Deque<Chunk<In>>();
  /** Items in `queue`. */
  private queuedItems = 0;
  /** The chunk that admitted items join: the last in the queue, until it is sent. */
  private open: Chunk<In> | undefined;
  /** Admitted and not emitted, in source order (ordered mode): a list through `Chunk.next`. */
  private head: Chunk<In> | undefined;
  private tail: Chunk<In> | undefined;
  /** Finished and not emitted, in completion order (unordered mode). */
  private readonly finished = new Deque<Chunk<In>>();
  private readonly running = new Set<Batch<In>>();
  /** Chunks waiting for a retry's delay, and how to cancel the wait. */
  private readonly delayed = new Map<Chunk<In>, () => void>();
  /** With `transfer`: indexes of the items whose buffers went to a worker (they cannot go again). */
  private readonly moved: Set<number> | undefined;
  private readonly sizer: BatchSizer;
  /** With `key`: whose turn it is per key, and the items waiting for theirs. */
  private readonly keys: KeyLines<Chunk<In>> | undefined;
  /** The most items admitted and not yet emitted (the config's, or the executor's default). */
  private readonly concurrency: number;
  private readonly meter: ProgressMeter | undefined;
  private readonly detach: () => void;
  /** This stream's id for the executor. */
  private readonly stream: string;
  /** The trace context of the item pushed `index`-th, when there may be one. */
  private readonly capture: ((index: number) => TraceCarrier | undefined) | undefined;
  /** Trace contexts of the items of a page, by their place in it (pages that have some). */
  private traced: WeakMap<In[], (TraceCarrier | undefined)[]> | undefined;
  /** The traces of the batch being settled, while it is. */
  private ending: ItemTrace[] | undefined;
  private held = 0;
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
    if (config.flat && !dispatcher.traits.streams) throw cannotStream();
    this.sizer = new BatchSizer(config.batchSize, dispatcher.traits.targetBatchMs);
    this.concurrency = config.concurrency ?? dispatcher.traits.concurrency ?? DEFAULT_CONCURRENCY;
    this.stream = dispatcher.streamId();
    this.meter = config.progress && new ProgressMeter(config.progress, config.total, clock);
    this.moved = config.transfer ? new Set() : undefined;
    this.keys = config.key && new KeyLines(config.key);
    const { traces } = config;
    this.capture = traces !== undefined ? (index) => traces[index] : dispatcher.captureTrace();
    this.detach = dispatcher.attach(this);
  }

  /** Items admitted and not yet emitted: never more than `concurrency`. */
  get inFlight(): number {
    return this.held;
  }

  /** How many more items the window takes now. */
  get room(): number {
    return this.closed ? 0 : this.concurrency - this.held - this.backlog;
  }

  /** Adds the next input of the source. Beyond the window it waits in a backlog. */
  push(input: In): void {
    if (this.closed || this.ended) return;
    let page = this.page;
    if (page === undefined || page.length === PAGE_SIZE) {
      page = [];
      this.page = page;
    }
    page.push(input);
    if (this.capture !== undefined) this.keepTrace(page);
    if (this.held < this.concurrency && this.backlog === 0) {
      this.admit(page, page.length - 1, page.length);
      // The hot path of a fast push source: when the queue already waited for a slot, every slot
      // is busy (the executor fills free slots at once), so nothing can move until one frees.
      if (this.queuedItems > 1 && !this.pumping && !this.hooks.pull) return;
    } else {
      if (this.backlog === 0) {
        this.waiting.push(page);
        this.waitingFrom = page.length - 1;
      } else if (page.length === 1) {
        this.waiting.push(page);
      }
      this.backlog++;
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
    for (const batch of this.running) {
      batch.cancelTimer?.();
      // A flat batch whose items all ended is only answering: stopping it could stop its worker.
      const { flat } = this.config;
      if (!flat || batch.chunks.some((chunk) => chunk.flat!.runsIn(batch))) {
        batch.running.abort('cancel');
      }
      if (batch.traces) {
        // A flat item that ended is traced already (`flatValues`).
        const { chunks } = batch;
        const out = this.config.flat
          ? batch.traces.filter((_, p) => chunks[p]!.flat!.runsIn(batch))
          : batch.traces;
        this.traceStopped(out);
      }
    }
    for (const cancelDelay of this.delayed.values()) cancelDelay();
    this.running.clear();
    this.delayed.clear();
    this.waiting.clear();
    this.page = undefined;
    this.backlog = 0;
    this.queue.clear();
    this.finished.clear();
    this.moved?.clear();
    this.keys?.clear();
    this.open = undefined;
    this.head = undefined;
    this.tail = undefined;
    this.queuedItems = 0;
    this.held = 0;
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

  // Internals

  /**
   * Items go one a batch: they have a timeout, and the executor can neither enforce it nor say
   * which item of a batch runs.
   */
  private get oneByOne(): boolean {
    const { traits } = this.dispatcher;
    return this.config.timeout !== undefined && !traits.knowsPosition && !traits.enforcesTimeouts;
  }

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
      for (let i = from; i < to; i++) this.admitFlat(this.chunk(page, i, i + 1), flat);
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
    this.held += count;
  }

  /** Queues a flat item, a chunk of one just made (`chunk`). */
  private admitFlat(chunk: Chunk<In>, flat: { readonly highWaterMark: number }): void {
    chunk.flat = new FlatItem(flat.highWaterMark, chunk.queuedAt);
    this.nextIndex++;
    this.held++;
    this.queue.push(chunk);
    this.queuedItems++;
  }

  /** A new chunk of the inputs `page[from..to)`, the last in source order. */
  private chunk(page: In[], from: number, to: number): Chunk<In> {
    const chunk = new Chunk<In>(this.nextIndex, page, from, to, 0, this.clock.now());
    if (this.config.ordered) {
      if (this.tail) this.tail.next = chunk;
      else this.head = chunk;
      this.tail = chunk;
    }
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
      this.held++;
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

  /** Admits from the backlog as much as the window has room for. */
  private admitWaiting(): void {
    while (this.backlog > 0 && this.held < this.concurrency) {
      const page = this.waiting.peek()!;
      const from = this.waitingFrom;
      const count = Math.min(page.length - from, this.concurrency - this.held);
      this.admit(page, from, from + count);
      this.backlog -= count;
      this.waitingFrom += count;
      if (this.waitingFrom === page.length) {
        this.waiting.shift();
        this.waitingFrom = 0;
      }
    }
  }

  /** Takes up to `max` items of a chunk just shifted from the queue; the rest goes back first. */
  private take(chunk: Chunk<In>, max: number): number {
    if (chunk.length > max) this.queue.unshift(this.split(chunk, max));
    if (this.open === chunk) this.open = undefined;
    this.queuedItems -= chunk.length;
    return chunk.length;
  }

  /**
   * Cuts `chunk` after its first `k` items; returns the rest as a new chunk, next to it in source
   * order. The rest stays open to admissions if the chunk was.
   */
  private split(chunk: Chunk<In>, k: number): Chunk<In> {
    const rest = new Chunk<In>(
      chunk.first + k,
      chunk.inputs,
      chunk.lo + k,
      chunk.hi,
      chunk.attempts,
      chunk.queuedAt,
    );
    rest.state = chunk.state;
    rest.cap = chunk.cap;
    chunk.hi = chunk.lo + k;
    if (this.open === chunk) this.open = rest;
    if (this.config.ordered) {
      rest.next = chunk.next;
      chunk.next = rest;
      if (this.tail === chunk) this.tail = rest;
    }
    return rest;
  }

  private launch(chunks: Chunk<In>[], count: number): void {
    let transferList: TransferListItem[] | undefined;
    if (this.config.transfer) {
      const ready = this.transfer(chunks);
      ({ chunks, count, transferList } = ready);
      if (count === 0) {
        this.pump();
        return;
      }
    }
    for (const chunk of chunks) chunk.state = RUNNING;
    const { timeout } = this.config;
    const enforced = this.dispatcher.traits.enforcesTimeouts;
    const traces = this.dispatcher.tracing() ? this.traceStart(chunks, count) : undefined;
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
        traces: this.traced && this.tracesOf(chunks, count),
        stream: this.stream,
        flat: this.config.flat,
      },
      (outcome) => this.settle(batch, outcome),
      this.config.flat &&
        ((position, values, end) => this.flatValues(batch, position, values, end)),
    );
    if (this.config.flat) {
      const now = this.clock.now();
      for (let p = 0; p < chunks.length; p++) chunks[p]!.flat!.start(batch, batch.running, p, now);
    }
    if (traces) for (const trace of traces) this.dispatcher.itemChannel.end.publish(trace);
    this.running.add(batch);
    this.out += count;
    if (timeout !== undefined && !enforced) this.armTimeout(batch, timeout);
  }

  /**
   * Collects the buffers that the items of a batch transfer. An item whose buffers already went
   * (a retry, or a batch-mate of a crash) or whose `transfer` throws fails, and leaves the batch.
   */
  private transfer(chunks: Chunk<In>[]): {
    chunks: Chunk<In>[];
    count: number;
    transferList: TransferListItem[] | undefined;
  } {
    const transfer = this.config.transfer!;
    const moved = this.moved!;
    const kept: Chunk<In>[] = [];
    let transferList: TransferListItem[] | undefined;
    let count = 0;
    for (let chunk of chunks) {
      let k = 0;
      while (k < chunk.length) {
        const index = chunk.first + k;
        let problem: Error | undefined;
        if (moved.has(index)) {
          problem = movedError();
        } else {
          try {
            for (const item of transfer(chunk.inputs[chunk.lo + k]!)) {
              // Shared memory is not moved (postMessage refuses it in a transfer list).
              if (item instanceof SharedArrayBuffer) continue;
              moved.add(index);
              transferList ??= [];
              transferList.push(item);
            }
          } catch (error) {
            problem = asError(error);
          }
        }
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
    return { chunks: kept, count, transferList };
  }

  private armTimeout(batch: Batch<In>, ms: number): void {
    batch.cancelTimer = this.clock.setTimeout(() => this.checkTimeout(batch), ms);
  }

  /** The time counted is each item's own, as the executor reports how long it has run. */
  private checkTimeout(batch: Batch<In>): void {
    batch.cancelTimer = undefined;
    if (this.closed || !this.running.has(batch)) return;
    const timeout = this.config.timeout!;
    const current = batch.running.current?.();
    if (!current || current.position >= batch.count) {
      this.armTimeout(batch, timeout);
      return;
    }
    let elapsed = current.elapsedMs;
    const flat = batch.chunks[current.position]?.flat;
    if (flat) {
      // A flat item's timeout bounds each wait for its next value, not counting a pause for credit.
      const waited = flat.waited(elapsed, this.clock.now());
      if (waited === undefined) {
        this.armTimeout(batch, timeout);
        return;
      }
      elapsed = waited;
    }
    // Timers may fire up to a millisecond early against a sub-millisecond clock.
    if (elapsed >= timeout - 1) {
      batch.timedOut = current.position;
      batch.running.abort('timeout');
    } else {
      this.armTimeout(batch, timeout - elapsed);
    }
  }

  private settle(batch: Batch<In>, outcome: BatchOutcome): void {
    if (this.closed) return;
    this.running.delete(batch);
    this.out -= batch.count;
    batch.cancelTimer?.();
    const { chunks } = batch;
    this.ending = batch.traces;
    switch (outcome.type) {
      case 'done': {
        this.sizer.observe(outcome.ms, outcome.count);
        // Durations only: the batch started when it was sent plus what it waited there, or (not
        // known) its run time before now.
        const startedAt =
          outcome.waitedMs !== undefined
            ? batch.sentAt + outcome.waitedMs
            : this.clock.now() - outcome.ms;
        // Each chunk's items that ran waited from when it was queued (sent again: anew).
        const { waitTimes } = this.dispatcher;
        let ran = outcome.count;
        for (let i = 0; i < chunks.length && ran > 0; i++) {
          const chunk = chunks[i]!;
          const k = Math.min(ran, chunk.length);
          waitTimes.add(Math.max(0, startedAt - chunk.queuedAt), k);
          ran -= k;
        }
        const { values, failures, count } = outcome;
        if (this.ending) for (const trace of this.ending) trace.workerId = outcome.workerId;
        const culprit = outcome.stopped ? batch.timedOut : undefined;
        if (culprit !== undefined && culprit < count) {
          // It answered the timeout's abort: the item that ran past it fails as timed out.
          this.routeReturned(
            batch,
            (p) => (p === culprit ? FAIL : p >= count ? AGAIN : failures?.[p] ? FAIL : KEEP),
            (p) => (p === culprit ? undefined : failures![p]),
            values,
          );
        } else if (failures === null && count === batch.count && !this.config.flat) {
          // (A flat batch's items that ended told so as they did: see `routeReturned`.)
          // The common case: every item ran and succeeded.
          if (this.ending) this.traceResults(0, count, values);
          let at = 0;
          for (const chunk of chunks) {
            this.succeeded(chunk, values, at);
            at += chunk.length;
          }
        } else {
          this.routeReturned(
            batch,
            (p) => (p >= count ? AGAIN : failures?.[p] ? FAIL : KEEP),
            (p) => failures![p],
            values,
          );
        }
        break;
      }
      case 'crashed': {
        const { position, error } = outcome;
        if (position !== undefined || batch.count === 1) {
          const culprit = position ?? 0;
          this.routeReturned(
            batch,
            (p) => (p === culprit ? FAIL : AGAIN),
            () => ({ error, kind: 'crashed', retryable: true }),
          );
        } else {
          this.routeReturned(batch, () => AGAIN, undefined, undefined, Math.ceil(batch.count / 2));
        }
        break;
      }
      case 'unsendable': {
        const { blamed } = outcome;
        this.routeReturned(
          batch,
          (p) => (blamed === undefined ? ALONE : blamed.has(p) ? FAIL : AGAIN),
          (p) => ({ error: blamed!.get(p)!, kind: 'threw', retryable: false }),
        );
        break;
      }
      case 'aborted': {
        const culprit = batch.timedOut;
        // The item the engine stopped for its timeout fails (no failure given: a timeout).
        this.routeReturned(batch, (p) => (p === culprit ? FAIL : AGAIN));
        break;
      }
      case 'lost':
        this.routeReturned(batch, () => AGAIN);
        break;
    }
    this.ending = undefined;
    this.pump();
  }

  /**
   * Deals with the items of a batch that came back, by what `mark` says of each (by its position
   * in the batch): splits the chunks where the marks change, keeps the results of the items that
   * succeeded, fails an attempt of each FAIL item (its failure from `failure`; none: it ran past
   * the engine's timeout), and puts the rest back at the head of the queue in source order: they
   * did not count as run.
   */
  private routeReturned(
    batch: Batch<In>,
    mark: (position: number) => number,
    failure?: (position: number) => ItemFailure | undefined,
    values?: ArrayLike<unknown>,
    /** The `cap` of the items that go AGAIN (a crash whose culprit is unknown: half the batch). */
    cap?: number,
  ): void {
    const { chunks } = batch;
    const again: Chunk<In>[] = [];
    let p = 0;
    for (let chunk of chunks) {
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
          if (this.ending) this.traceResults(p, k, values!);
        } else if (what === FAIL) {
          const error = this.failItem(chunk, failure?.(p), again);
          if (this.ending) this.traceEnd(this.ending[p]!, error);
        } else if (chunk.flat && chunk.flat.emitted > 0) {
          // Its values were emitted: running it again would emit them twice.
          const error = this.failItem(
            chunk,
            { error: stoppedError(), kind: 'threw', retryable: false },
            again,
          );
          if (this.ending) this.traceEnd(this.ending[p]!, error);
        } else {
          if (this.ending) for (let i = p; i < p + k; i++) this.traceEnd(this.ending[i]!);
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
    if (!this.config.ordered) this.ready(chunk);
    if (this.keys) this.leave(chunk);
  }

  /** Unordered mode: the chunk has something to emit (once in the deque). */
  private ready(chunk: Chunk<In>): void {
    const { flat } = chunk;
    if (flat) {
      if (flat.ready) return;
      flat.ready = true;
    }
    this.finished.push(chunk);
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
      if (!this.config.ordered) this.ready(chunk!);
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
        if (trace) this.traceEnd(trace, error);
      } else {
        this.succeeded(chunk!, NO_VALUES, 0);
        if (trace) {
          trace.result = undefined;
          this.traceEnd(trace);
        }
      }
    }
    this.pump();
  }

  /**
   * An attempt of the one item of `chunk` failed: it goes again (into `again`, or after the
   * retry's delay) or fails for good. Its failure's kind says which error it is charged as; no
   * failure: it ran past the timeout that the engine keeps.
   */
  private failItem(
    chunk: Chunk<In>,
    failure: ItemFailure | undefined,
    again: Chunk<In>[] | undefined,
  ): TaskError<In> {
    chunk.attempts++;
    this.dispatcher.failedAttempts++;
    const kind = failure === undefined ? 'timeout' : failure.kind;
    const { flat } = chunk;
    const details = {
      index: chunk.first,
      input: chunk.inputs[chunk.lo]!,
      attempts: chunk.attempts,
      // Its values that came are emitted before its failure.
      emitted: flat && flat.emitted + flat.pending,
    };
    const make = (hint?: string): TaskError<In> => {
      if (kind === 'timeout') {
        return new TaskTimeoutError({ ...details, hint, timeout: this.config.timeout! });
      }
      if (kind === 'crashed') {
        return new WorkerCrashedError({ ...details, cause: failure!.error, hint });
      }
      const hints = [failure!.hint, hint].filter(Boolean).join('\n') || undefined;
      return new TaskError({ ...details, cause: failure!.error, hint: hints });
    };
    let error = make();
    // `retryable: false`: trying again cannot help (a result that cannot be cloned, a failed setup).
    // A flat item whose values were emitted cannot run again: they would be emitted twice.
    const retryable = (failure?.retryable ?? true) && !(flat && flat.emitted > 0);
    const { retry } = this.config;
    if (retryable && chunk.attempts <= retry.count && retry.retryIf(error, chunk.attempts)) {
      if (this.moved?.has(chunk.first)) {
        // Its `transfer` buffers went to the worker with this attempt: it cannot run again, so it
        // fails now, with what this attempt gave as the cause, and says why it was not retried.
        error = make(NOT_RETRIED);
        chunk.state = FAILED;
        chunk.error = error;
        if (!this.config.ordered) this.ready(chunk);
        if (this.keys) this.leave(chunk);
        return error;
      }
      // An item that crashed its worker goes again alone: if it does it again, it takes no
      // batch-mates down with it.
      if (kind === 'crashed') chunk.cap = 1;
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
    chunk.state = FAILED;
    chunk.error = error;
    if (!this.config.ordered) this.ready(chunk);
    if (this.keys) this.leave(chunk);
    return error;
  }

  // Tracing: each attempt on the `rxpool:item` channel, and the items' trace contexts

  /** Keeps the trace context of the input just pushed into `page`, if it has one. */
  private keepTrace(page: In[]): void {
    const carrier = this.capture!(this.nextIndex + this.backlog);
    let list = this.traced?.get(page);
    if (list === undefined) {
      if (carrier === undefined) return;
      list = [];
      this.traced ??= new WeakMap();
      this.traced.set(page, list);
    }
    list[page.length - 1] = carrier;
  }

  /** The trace contexts of a batch's items, by position; `undefined` when none has one. */
  private tracesOf(chunks: Chunk<In>[], count: number): (TraceCarrier | undefined)[] | undefined {
    let traces: (TraceCarrier | undefined)[] | undefined;
    let p = 0;
    for (const chunk of chunks) {
      const list = this.traced!.get(chunk.inputs);
      if (list !== undefined) {
        for (let i = chunk.lo; i < chunk.hi; i++) {
          const carrier = list[i];
          if (carrier === undefined) continue;
          traces ??= new Array(count);
          traces[p + i - chunk.lo] = carrier;
        }
      }
      p += chunk.length;
    }
    return traces;
  }

  /** Publishes `start` for each item of a batch about to be launched; returns their traces. */
  private traceStart(chunks: Chunk<In>[], count: number): ItemTrace[] {
    const { start } = this.dispatcher.itemChannel;
    const traces: ItemTrace[] = new Array(count);
    let p = 0;
    for (const chunk of chunks) {
      const attempt = chunk.attempts + 1;
      for (let k = 0; k < chunk.length; k++) {
        const trace: ItemTrace = { index: chunk.first + k, attempt, workerId: undefined };
        traces[p++] = trace;
        start.publish(trace);
      }
    }
    return traces;
  }

  /** The items at positions `[p, p + k)` of the batch being settled succeeded. */
  private traceResults(p: number, k: number, values: ArrayLike<unknown>): void {
    const traces = this.ending!;
    for (let i = p; i < p + k; i++) {
      const trace = traces[i]!;
      trace.result = values[i];
      this.traceEnd(trace);
    }
  }

  /** An attempt is over: failed with `error`, succeeded (`result` set), or to go again. */
  private traceEnd(trace: ItemTrace, error?: unknown): void {
    const channel = this.dispatcher.itemChannel;
    if (error !== undefined) {
      trace.error = error;
      channel.error.publish(trace);
    } else if (!('result' in trace)) {
      trace.again = true;
    }
    channel.asyncStart.publish(trace);
    channel.asyncEnd.publish(trace);
  }

  /** The attempts of a batch still out when the stream stopped. */
  private traceStopped(traces: ItemTrace[]): void {
    const error = new AbortError(
      'The attempt was stopped: its stream was unsubscribed, or its pool destroyed, while it was out',
    );
    for (const trace of traces) this.traceEnd(trace, error);
  }

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
    try {
      do {
        this.again = false;
        if (this.backlog > 0) this.admitWaiting();
        if (this.queuedItems > 0) this.dispatcher.schedule(this);
        if (this.closed) return;
        // Emitting frees room in the window for what waits in the backlog: go round again.
        if (this.emit()) {
          if (this.backlog > 0) this.again = true;
          if (this.meter) this.report(false);
        }
        if (this.closed) return;
        if (this.ended) {
          if (this.held === 0 && this.backlog === 0) {
            if (this.meter) this.report(true);
            if (this.closed) return;
            const hooks = this.hooks;
            const failure = this.sourceFailure;
            this.cancel();
            if (failure) hooks.error(failure.error);
            else hooks.complete();
            return;
          }
        } else if (this.backlog === 0 && this.held < this.concurrency) {
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
      this.meter!.flush(this.held, final);
    } catch (error) {
      this.kill(asError(error));
    }
  }

  /** Emits what is ready; returns whether anything was emitted. */
  private emit(): boolean {
    if (this.config.flat) return this.emitFlat();
    const { ordered } = this.config;
    let emitted = false;
    while (!this.paused && !this.closed) {
      const chunk = ordered ? this.head : this.finished.peek();
      if (!chunk || chunk.state < DONE) break;
      emitted = true;
      // The chunk's items go one after the other, until it is done or a hook pauses or cancels.
      const { inputs, lo, first } = chunk;
      const last = chunk.length - 1;
      const done = chunk.state === DONE;
      const values = chunk.values!;
      const at = chunk.at;
      do {
        const k = chunk.emitted++;
        if (k === last) {
          // Its last item: the chunk leaves before the hook runs (which may push or cancel).
          if (ordered) {
            this.head = chunk.next;
            if (!this.head) this.tail = undefined;
          } else {
            this.finished.shift();
          }
        }
        this.held--;
        const input = inputs[lo + k]!;
        inputs[lo + k] = undefined as In;
        this.moved?.delete(first + k);
        if (done) {
          this.meter?.emitted(false);
          this.hooks.value(values[at + k] as Out, first + k, input);
        } else {
          this.meter?.emitted(true);
          this.hooks.failure(chunk.error!);
        }
      } while (chunk.emitted <= last && !this.paused && !this.closed);
    }
    return emitted;
  }

  /**
   * Emits what is ready of a flat stream: the values that came, one item after the other in source
   * order (ordered: only the head item's, while those behind it gather theirs, up to their mark),
   * or as they came (unordered); an item leaves the window once it ended and all its values are out.
   */
  private emitFlat(): boolean {
    const { ordered } = this.config;
    let emitted = false;
    while (!this.paused && !this.closed) {
      const chunk = ordered ? this.head : this.finished.peek();
      if (!chunk) break;
      const flat = chunk.flat!;
      if (flat.pending > 0) {
        emitted = true;
        const value = flat.take(this.clock);
        this.hooks.value(value as Out, chunk.first, chunk.inputs[chunk.lo]!);
        continue;
      }
      if (chunk.state < DONE) {
        // Running (or queued again) with nothing to emit now.
        if (ordered) break;
        this.finished.shift();
        flat.ready = false;
        continue;
      }
      emitted = true;
      if (ordered) {
        this.head = chunk.next;
        if (!this.head) this.tail = undefined;
      } else {
        this.finished.shift();
        flat.ready = false;
      }
      this.held--;
      chunk.inputs[chunk.lo] = undefined as In;
      this.moved?.delete(chunk.first);
      if (chunk.state === DONE) {
        this.meter?.emitted(false);
      } else {
        this.meter?.emitted(true);
        this.hooks.failure(chunk.error!);
      }
    }
    return emitted;
  }
}

/** The cause of a flat item whose worker stopped under it after some of its values were out. */
function stoppedError(): Error {
  const error = new Error(
    'The item stopped after some of its values were emitted, and cannot run again without ' +
      'emitting them twice',
  );
  error.name = 'StoppedError';
  return error;
}

/**
 * The inputs of a batch, in an array of its own (the chunks' arrays are cleared as their items are
 * emitted, so that what was emitted can be collected).
 */
function inputsOf<In>(chunks: Chunk<In>[]): unknown[] {
  if (chunks.length === 1) {
    const chunk = chunks[0]!;
    return chunk.inputs.slice(chunk.lo, chunk.hi);
  }
  const inputs: unknown[] = [];
  for (const chunk of chunks) {
    for (let i = chunk.lo; i < chunk.hi; i++) inputs.push(chunk.inputs[i]);
  }
  return inputs;
}

/** The spans of a batch's items: one per chunk (their attempt is the one to come). */
function spansOf<In>(chunks: Chunk<In>[], origin: readonly ItemSpan[] | undefined): ItemSpan[] {
  const spans: ItemSpan[] = [];
  for (const chunk of chunks) {
    const span = { index: chunk.first, count: chunk.length, attempt: chunk.attempts + 1 };
    if (origin === undefined) spans.push(span);
    else spans.push(...within(origin, span));
  }
  return spans;
}

/** `span` (of a stream whose items are `origin`'s) as spans of `origin`'s items. */
function within(origin: readonly ItemSpan[], span: ItemSpan): ItemSpan[] {
  const spans: ItemSpan[] = [];
  let skip = span.index;
  let left = span.count;
  for (const run of origin) {
    if (left === 0) break;
    if (skip >= run.count) {
      skip -= run.count;
      continue;
    }
    const count = Math.min(run.count - skip, left);
    spans.push({ index: run.index + skip, count, attempt: run.attempt + span.attempt - 1 });
    left -= count;
    skip = 0;
  }
  return spans;
}

const NO_VALUES: readonly unknown[] = [];
const noop = () => {};
const closedHooks: EngineHooks<any, any> = {
  value: noop,
  failure: noop,
  complete: noop,
  error: noop,
};

/** Why an item that failed an attempt after its `transfer` buffers moved was not retried. */
const NOT_RETRIED =
  'Not retried: its `transfer` buffers went to the worker with this attempt and are gone from ' +
  'this side. To retry such items, share the memory (SharedArrayBuffer) or copy it (no `transfer`).';

/**
 * The cause of an item sent back to the queue after its buffers moved (its batch-mate crashed its
 * worker or timed out): it cannot be sent again.
 */
function movedError(): Error {
  const error = new Error(
    'The input cannot run again: its `transfer` buffers were moved to a worker by an earlier ' +
      'run of its batch, which did not finish, and are gone from this side. To run such items ' +
      'again, share the memory (SharedArrayBuffer) or copy it (no `transfer`).',
  );
  error.name = 'TransferredError';
  return error;
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/**
 * `bullmqExecutor`: the producer side of "many machines". It implements the executor seam
 * (src/executor/contract.ts) by sending each batch as one BullMQ job to the
 * `rxpool worker` processes of a queue (./serve.ts), in the job format of ./job.ts.
 *
 * ## How a batch's outcome is found
 *
 * Every launch of a batch is a job of its own (`<executor>.<n>`): a late finish of an old launch
 * names an id that is no longer outstanding and is ignored. The outcome comes by two paths:
 * - the fast path: the queue's BullMQ events stream (`completed`, `failed`, `stalled`, `active`),
 *   read by this executor's own blocking reads (`readEvents`);
 * - the reconcile pass: every `reconcileMs` (and at once after every reconnect) the state of every
 *   outstanding job is read (`Job.fromId`). BullMQ's events stream is capped and drops events
 *   (issue 13 measured 117-2,133 lost completions of 10,000), and a Redis restart loses the
 *   stream: the pass alone always ends every batch.
 * Whichever path sees the end first settles the batch, once; the producer then removes the job.
 *
 * What a job's state means:
 * - completed: its result holds one outcome per item (`done`, per-item failures with their kind);
 * - `stalledCounter > 0` or failed as stalled: its worker died (`crashed`, position unknown: a
 *   worker that dies takes the knowledge of which item killed it along). BullMQ 6.7 with
 *   `maxStalledCount: 0` puts such a job back in `wait` with a deferred failure that only the next
 *   worker to take it applies, so the counter, not the failure, is what tells;
 * - failed as cancelled: `aborted`; failed for another reason (a worker of another format
 *   version): `unsendable`, every item blamed, with the worker's reason;
 * - gone (Redis restarted without persistence, or someone removed it): `lost`, all go again.
 *
 * ## Capacity
 *
 * At most `capacity()` jobs are out: the `capacity` option, or else `jobsPerWorker` (2) for every
 * worker connected to the queue (`Queue.getWorkersCount`, read on every reconcile pass), at least
 * 1 (a stream started before any worker waits in Redis for one). Two per worker keeps a worker's
 * local pool busy while a finished job's result travels back.
 *
 * ## Redis out of reach
 *
 * When the producer has not reached Redis for `unreachableMs` (from the start, or since the
 * connection dropped), every outstanding batch and every new one ends `unsendable` with a
 * {@link RedisUnreachableError} blamed on each item: a clear error, never a hang. A restart that
 * reconnects sooner goes unnoticed apart from the jobs it lost (`lost`, sent again).
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { serialize } from 'node:v8';
import { type ConnectionOptions, Job, Queue } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type {
  BatchOutcome,
  Executor,
  ExecutorBatch,
  ExecutorTraits,
  ItemFailure,
  RunningBatch,
  ValuesListener,
} from '../executor/contract.js';
import { fail } from '../options.js';
import { reviveError } from '../worker/wire-error.js';
import {
  type BatchOutcomes,
  CANCELLED,
  cancelChannel,
  encodeBatch,
  encodeCancel,
  type ItemFailureWire,
  JOB_NAME,
  MAX_BATCH_BYTES,
  readResult,
} from './job.js';

export interface BullmqExecutorOptions {
  /** `redis://` or `rediss://` URL, or ioredis options (host, port, tls, username, password...). */
  readonly connection: string | RedisOptions;
  /** The queue's name: the same as the workers' `--queue`. */
  readonly queue: string;
  /** BullMQ's key prefix (default `bull`, as `rxpool worker` uses). */
  readonly prefix?: string;
  /** Jobs out at once; default: {@link BullmqExecutorOptions.jobsPerWorker} per connected worker. */
  readonly capacity?: number;
  /** Jobs out at once per connected worker when `capacity` is not given (default 2). */
  readonly jobsPerWorker?: number;
  /** The run time a batch should aim for, in ms (default 200). */
  readonly targetBatchMs?: number;
  /** The largest job, in bytes of encoded inputs (default 8 MiB, at most 16 MiB). */
  readonly maxBatchBytes?: number;
  /** How often every outstanding job's state is read, in ms (default 1000). */
  readonly reconcileMs?: number;
  /** How long Redis may be out of reach before batches fail, in ms (default 5000). */
  readonly unreachableMs?: number;
  /** Take outcomes from BullMQ's events as well as the reconcile pass (default true). */
  readonly events?: boolean;
  /**
   * BullMQ's cap of the queue's events stream (`streams.events.maxLen`, default 10,000; the
   * queue's setting is written by every producer that starts). Events beyond it are dropped; the
   * reconcile pass still finds every outcome.
   */
  readonly streams?: { readonly events?: { readonly maxLen?: number } };
}

/** The producer cannot reach Redis. */
export class RedisUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisUnreachableError';
  }
}

/**
 * How long closing waits for the stopped jobs of settled launches to end, to remove them (a
 * cancelled job ends within moments; one whose worker does not answer is left to the workers'
 * `removeOnFail` age).
 */
const ORPHANS_MS = 3000;

/** The server-side block of each read of the events stream, in ms. */
const EVENTS_BLOCK_MS = 5000;

/**
 * The longest wait between two attempts to reconnect (ioredis' default strategy with 500 in
 * place of 2000): a client that waits to reconnect ends only at its next attempt (see `end`),
 * so this bounds how long closing takes while Redis is out of reach.
 */
const RETRY_MAX_MS = 500;

/** The stalled reason of BullMQ 6.7 (`Worker.getUnrecoverableErrorMessage`'s text). */
const STALLED_REASON = 'stalled more than allowable limit';

/**
 * The window of a stream that sets no `concurrency`: each job costs a few ms of Redis round trips
 * and BullMQ scripts whatever it holds, and a batch is at most an even share of the window among
 * the jobs out, so the threads' 16,384 made jobs of ~4,000 trivial items, bound by that cost
 * (bench case `remote` on the quiet machine: 1.1 M items/s against 1.8-1.9 M with this window,
 * which fills 4 jobs up to the engine's largest batch).
 */
const REMOTE_CONCURRENCY = 262_144;

const DEFAULTS = {
  prefix: 'bull',
  jobsPerWorker: 2,
  targetBatchMs: 200,
  maxBatchBytes: 8 * 1024 * 1024,
  reconcileMs: 1000,
  unreachableMs: 5000,
} as const;

/** One launch of a batch: one job. */
interface Launch {
  readonly id: string;
  readonly stream: string;
  readonly count: number;
  readonly sentAt: number;
  readonly report: (outcome: BatchOutcome) => void;
  /** A flat batch: where each item's values go, all of them when its job completes. */
  readonly values: ValuesListener | undefined;
  /** The job is in Redis (its `add` resolved). */
  added: boolean;
  /** A worker took it (an `active` event or its state). */
  active: boolean;
  settled: boolean;
}

/** Counters for tests and troubleshooting: which path ended the batches. */
export interface BullmqExecutorCounters {
  readonly byEvent: number;
  readonly byReconcile: number;
  readonly lost: number;
  readonly crashed: number;
  readonly workers: number;
}

export class BullmqExecutor implements Executor {
  readonly traits: ExecutorTraits;
  private readonly queue: Queue;
  private readonly redis: Redis;
  private readonly eventsClient: Redis | undefined;
  private readonly url: string;
  private readonly tag = randomBytes(4).toString('hex');
  private readonly out = new Map<string, Launch>();
  /** Jobs settled while still in Redis (cancelled while running): removed once they end. */
  private readonly orphans = new Set<string>();
  private readonly listeners: (() => void)[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly opts: Required<
    Omit<BullmqExecutorOptions, 'capacity' | 'connection' | 'streams'>
  > & {
    capacity: number | undefined;
  };
  private seq = 0;
  private workers = 0;
  private connected = false;
  private downSince = performance.now();
  private lastError = '';
  private reconciling: Promise<void> | undefined;
  private again = false;
  private destroyed = false;
  private released: Promise<void> | undefined;
  private stopping = false;
  private idle: (() => void) | undefined;
  private counts = { byEvent: 0, byReconcile: 0, lost: 0, crashed: 0 };
  /** When the PING still unanswered was sent (`performance.now()`), while one is out. */
  private probing: number | undefined;
  private probeTimer: NodeJS.Timeout | undefined;

  constructor(options: BullmqExecutorOptions) {
    if (options === null || typeof options !== 'object') {
      fail('options', 'an object ({ connection, queue })', options);
    }
    const { connection, queue } = options;
    if (typeof connection === 'string') {
      if (!/^rediss?:\/\//.test(connection)) {
        fail('connection', 'a redis:// or rediss:// URL, or ioredis options', connection);
      }
    } else if (connection === null || typeof connection !== 'object') {
      fail('connection', 'a redis:// or rediss:// URL, or ioredis options', connection);
    }
    if (typeof queue !== 'string' || queue === '') fail('queue', 'a non-empty string', queue);
    const int = (name: keyof BullmqExecutorOptions, min: number, max?: number) => {
      const value = options[name];
      if (value === undefined) return undefined;
      if (
        typeof value !== 'number' ||
        !Number.isInteger(value) ||
        value < min ||
        (max !== undefined && value > max)
      ) {
        fail(
          name,
          max === undefined ? `an integer >= ${min}` : `an integer from ${min} to ${max}`,
          value,
        );
      }
      return value;
    };
    const prefix = options.prefix ?? DEFAULTS.prefix;
    if (typeof prefix !== 'string' || prefix === '') fail('prefix', 'a non-empty string', prefix);
    if (options.events !== undefined && typeof options.events !== 'boolean') {
      fail('events', 'a boolean', options.events);
    }
    const maxLen = options.streams?.events?.maxLen;
    if (maxLen !== undefined && !(Number.isInteger(maxLen) && maxLen >= 1)) {
      fail('streams.events.maxLen', 'an integer >= 1', maxLen);
    }
    this.opts = {
      queue,
      prefix,
      capacity: int('capacity', 1),
      jobsPerWorker: int('jobsPerWorker', 1) ?? DEFAULTS.jobsPerWorker,
      targetBatchMs: int('targetBatchMs', 1) ?? DEFAULTS.targetBatchMs,
      // Under rxpool worker's limit on a job's data, which a larger job would pass.
      maxBatchBytes: int('maxBatchBytes', 1024, MAX_BATCH_BYTES) ?? DEFAULTS.maxBatchBytes,
      reconcileMs: int('reconcileMs', 10) ?? DEFAULTS.reconcileMs,
      unreachableMs: int('unreachableMs', 100) ?? DEFAULTS.unreachableMs,
      events: options.events ?? true,
    };
    this.traits = {
      targetBatchMs: this.opts.targetBatchMs,
      enforcesTimeouts: true,
      knowsPosition: false,
      concurrency: REMOTE_CONCURRENCY,
      // Flat batches: an item's values come back with its job (no credit: see FLAT_JOB_MAX_VALUES).
      streams: true,
    };
    this.url =
      typeof connection === 'string'
        ? redact(connection)
        : `${connection.host ?? '127.0.0.1'}:${connection.port ?? 6379}`;
    // The clients are ours (ioredis' public API), given to BullMQ as shared connections: BullMQ
    // does not close a shared client, and its own close waits for a connection that is still
    // being made (BullMQ 6.7 `RedisConnection.disconnect` awaits its client's first `ready`), so
    // with Redis out of reach only our `disconnect()` of these clients ends them. The queue's
    // client also sends the cancel messages and tells whether Redis is in reach.
    // Once released, no client (nor BullMQ's duplicate of one, which copies its options)
    // connects again: BullMQ 6.7 calls `connect()` on a client that ended while it waits for it.
    const given = typeof connection === 'string' ? undefined : connection.retryStrategy;
    const retryStrategy = (times: number) =>
      this.stopping ? null : given ? given(times) : Math.min(times * 50, RETRY_MAX_MS);
    const client = () =>
      typeof connection === 'string'
        ? new Redis(connection, { maxRetriesPerRequest: null, retryStrategy })
        : new Redis({ ...connection, maxRetriesPerRequest: null, retryStrategy });
    this.redis = client();
    this.redis.on('ready', () => this.up());
    this.redis.on('close', () => this.down());
    this.redis.on('error', (error: Error) => this.problem(error));
    this.queue = new Queue(queue, {
      connection: this.redis as unknown as ConnectionOptions,
      prefix,
      ...(maxLen === undefined ? {} : { streams: { events: { maxLen } } }),
    });
    this.queue.on('error', (error) => this.problem(error));
    if (this.opts.events) {
      this.eventsClient = client();
      this.eventsClient.on('error', (error: Error) => this.problem(error));
      void this.readEvents(this.eventsClient, `${prefix}:${queue}:events`);
    }
    this.timer = setInterval(() => this.tick(), this.opts.reconcileMs);
    this.timer.unref();
  }

  /** Connected workers (at least 1): what `pool.stats().size` shows. */
  get size(): number {
    return Math.max(1, this.workers);
  }

  capacity(): number {
    return this.opts.capacity ?? Math.max(1, this.opts.jobsPerWorker * this.workers);
  }

  onCapacity(listener: () => void): void {
    this.listeners.push(listener);
  }

  stats(): { busy: number; queued: number } {
    let busy = 0;
    let queued = 0;
    for (const launch of this.out.values()) {
      if (launch.active) busy++;
      else queued += launch.count;
    }
    return { busy, queued };
  }

  /** Which path ended the batches so far, and the workers last seen. */
  counters(): BullmqExecutorCounters {
    return { ...this.counts, workers: this.workers };
  }

  /**
   * Resolves once Redis answers; rejects with a {@link RedisUnreachableError} when it does not
   * within `unreachableMs`.
   */
  async ready(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.unreachable()), this.opts.unreachableMs);
    });
    try {
      await Promise.race([this.redis.ping(), late]);
      this.up();
    } finally {
      clearTimeout(timer);
    }
  }

  run(
    batch: ExecutorBatch,
    report: (outcome: BatchOutcome) => void,
    values?: ValuesListener,
  ): RunningBatch {
    const later = (outcome: BatchOutcome) => {
      setImmediate(() => report(outcome));
      return { abort() {} };
    };
    if (this.destroyed) return later({ type: 'aborted' });
    if (!this.connected && performance.now() - this.downSince > this.opts.unreachableMs) {
      return later(blameAll(batch.inputs.length, this.unreachable()));
    }
    // The engine's stream ids are unique within one pool only, and the cancel channel is the
    // queue's, shared by every producer on it: qualified by this executor's tag, a cancel names
    // a stream of this executor alone.
    const stream = `${this.tag}.${batch.stream}`;
    const encoded = this.encode(batch, stream);
    if ('outcome' in encoded) return later(encoded.outcome);
    const { count, data } = encoded;
    const launch: Launch = {
      id: `rx.${this.tag}.${this.seq++}`,
      stream,
      count,
      sentAt: performance.now(),
      report,
      values: batch.flat ? values : undefined,
      added: false,
      active: false,
      settled: false,
    };
    this.out.set(launch.id, launch);
    this.queue.add(JOB_NAME, data, { jobId: launch.id }).then(
      () => {
        launch.added = true;
        if (launch.settled) this.orphan(launch.id);
      },
      (error: unknown) => {
        this.settle(
          launch,
          blameAll(
            launch.count,
            new RedisUnreachableError(
              `cannot add the batch's job to queue '${this.opts.queue}' at ${this.url}: ${message(error)}`,
            ),
          ),
        );
      },
    );
    return {
      abort: (reason) => {
        if (launch.settled) return;
        if (reason === 'cancel') this.cancel(launch.stream);
        this.settle(launch, { type: 'aborted' });
      },
    };
  }

  /** No new batches: waits for those out, then releases every connection. */
  async close(): Promise<void> {
    if (this.out.size > 0) {
      await new Promise<void>((resolve) => {
        const before = this.idle;
        this.idle = () => {
          before?.();
          resolve();
        };
      });
    }
    await this.release();
  }

  /** Stops now: batches out are reported 'aborted', their jobs removed or cancelled. */
  async destroy(): Promise<void> {
    this.destroyed = true;
    const streams = new Set<string>();
    for (const launch of [...this.out.values()]) {
      streams.add(launch.stream);
      this.settle(launch, { type: 'aborted' });
    }
    for (const stream of streams) this.cancel(stream);
    await this.release();
  }

  // --- encoding ------------------------------------------------------------------------------

  /** The job data of the batch's first items that fit, or the outcome when none can go. */
  private encode(
    batch: ExecutorBatch,
    stream: string,
  ): { count: number; data: ReturnType<typeof encodeBatch> } | { outcome: BatchOutcome } {
    const { inputs } = batch;
    const max = this.opts.maxBatchBytes;
    let count = inputs.length;
    for (;;) {
      let data: ReturnType<typeof encodeBatch>;
      try {
        data = encodeBatch({
          stream,
          work: batch.work,
          timeout: batch.timeout,
          spans: batch.spans,
          inputs: count === inputs.length ? inputs : inputs.slice(0, count),
          traces: count === inputs.length ? batch.traces : batch.traces?.slice(0, count),
          flat: batch.flat !== undefined,
        });
      } catch {
        return { outcome: blameUnserializable(inputs.slice(0, count)) };
      }
      const bytes = data.inputs.length;
      if (bytes <= max) return { count, data };
      if (count === 1) {
        const error = new RangeError(
          `The item is ${bytes} bytes once encoded, over the executor's maxBatchBytes of ${max}: ` +
            'it cannot go as a job to Redis (raise maxBatchBytes, or send a reference to the data)',
        );
        return { outcome: { type: 'unsendable', blamed: new Map([[0, error]]) } };
      }
      count = Math.max(1, Math.min(count - 1, Math.floor((count * max * 0.9) / bytes)));
    }
  }

  // --- the events stream ---------------------------------------------------------------------

  /**
   * Reads the queue's events stream (BullMQ writes `completed`, `failed`, `stalled` and `active`
   * there, with the job's id) until released. Our own blocking reads rather than BullMQ's
   * `QueueEvents`: on a lost connection BullMQ 6.7's reader waits on timers of its own (a
   * watchdog of its block time plus 1 s per read, 5 s between attempts) that keep a closed
   * producer's process alive for seconds; ours hold nothing once the client has ended. Events
   * missed while away are no loss: the reconcile pass after a reconnect reads every job.
   */
  private async readEvents(client: Redis, key: string): Promise<void> {
    let last = '$';
    while (!this.stopping) {
      let reply: [string, [string, string[]][]][] | null;
      try {
        reply = (await client.xread(
          'BLOCK',
          EVENTS_BLOCK_MS,
          'STREAMS',
          key,
          last,
        )) as typeof reply;
      } catch (error) {
        if (this.stopping) return;
        this.problem(error);
        await new Promise((resolve) => setTimeout(resolve, 100).unref());
        continue;
      }
      for (const [, entries] of reply ?? []) {
        for (const [id, fields] of entries) {
          last = id;
          this.onEvent(fields);
        }
      }
    }
  }

  private onEvent(fields: string[]): void {
    let event: string | undefined;
    let jobId: string | undefined;
    let detail: string | undefined;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i];
      if (name === 'event') event = fields[i + 1];
      else if (name === 'jobId') jobId = fields[i + 1];
      else if (name === 'failedReason') detail = fields[i + 1];
    }
    // An event may come before `add` resolves: the id is this launch's alone, so it counts.
    const launch = jobId === undefined ? undefined : this.out.get(jobId);
    if (!launch) return;
    if (event === 'completed') {
      // The outcomes are in the job's data (./job.ts), not in the event.
      void this.fetchCompleted(launch);
    } else if (event === 'failed') {
      this.failed(launch, detail ?? '', undefined, 'event');
    } else if (event === 'stalled') {
      this.crashed(launch, undefined, 'event');
    } else if (event === 'active') {
      launch.active = true;
    }
  }

  /** Reads a completed job's outcomes from its data and settles its launch. */
  private async fetchCompleted(launch: Launch): Promise<void> {
    let job: Job | undefined;
    try {
      job = await Job.fromId(this.queue, launch.id);
    } catch (error) {
      // Out of reach: the reconcile pass after the reconnect reads it.
      this.problem(error);
      return;
    }
    if (launch.settled) return;
    if (job === undefined) {
      this.counts.lost++;
      this.settle(launch, { type: 'lost' });
    } else {
      this.completed(launch, job.data, 'event');
    }
  }

  // --- outcomes ------------------------------------------------------------------------------

  private completed(launch: Launch, result: unknown, by: 'event' | 'reconcile'): void {
    let outcomes: BatchOutcomes;
    try {
      outcomes = readResult(result, launch.count);
    } catch (error) {
      this.settle(
        launch,
        blameAll(launch.count, new Error(`unreadable job result: ${message(error)}`)),
      );
      return;
    }
    const { values } = outcomes;
    let failures: (ItemFailure | undefined)[] | null = null;
    for (const item of outcomes.failures ?? []) {
      failures ??= new Array<ItemFailure | undefined>(launch.count);
      failures[item.index] = itemFailure(item);
    }
    if (launch.values) {
      // A flat batch: each item's values, then its end, in order, before the outcome.
      for (let p = 0; p < launch.count; p++) {
        const given = values[p];
        launch.values(p, Array.isArray(given) ? given : [], { failure: failures?.[p] });
      }
    }
    const { ms, worker } = result as { ms?: unknown; worker?: unknown };
    const took = typeof ms === 'number' && ms >= 0 ? ms : 0;
    this.counts[by === 'event' ? 'byEvent' : 'byReconcile']++;
    this.settle(launch, {
      type: 'done',
      values,
      failures,
      count: launch.count,
      ms: took,
      waitedMs: Math.max(0, performance.now() - launch.sentAt - took),
      ...(typeof worker === 'string' ? { workerId: worker } : {}),
    });
  }

  private failed(
    launch: Launch,
    reason: string,
    worker: string | undefined,
    by: 'event' | 'reconcile',
  ): void {
    if (reason.includes(STALLED_REASON)) {
      this.crashed(launch, worker, by);
    } else if (reason === CANCELLED) {
      this.settle(launch, { type: 'aborted' });
    } else {
      this.counts[by === 'event' ? 'byEvent' : 'byReconcile']++;
      this.settle(
        launch,
        blameAll(launch.count, new Error(`the worker refused the job: ${reason}`)),
      );
    }
  }

  private crashed(launch: Launch, worker: string | undefined, by: 'event' | 'reconcile'): void {
    this.counts.crashed++;
    this.counts[by === 'event' ? 'byEvent' : 'byReconcile']++;
    const error = new Error(
      `The rxpool worker running this batch${worker ? ` (${worker})` : ''} stopped answering ` +
        `(its job stalled: the worker process died or lost Redis); the batch goes again`,
    );
    error.name = 'WorkerCrashedError';
    this.settle(launch, { type: 'crashed', error, position: undefined });
  }

  /** Reports once, drops the launch and removes its job (or keeps it to remove once it ends). */
  private settle(launch: Launch, outcome: BatchOutcome): void {
    if (launch.settled) return;
    launch.settled = true;
    this.out.delete(launch.id);
    if (launch.added) this.orphan(launch.id);
    // Never synchronously from run() or abort(): every path here is a callback or after one.
    queueMicrotask(() => launch.report(outcome));
    if (this.out.size === 0 && this.idle) {
      const idle = this.idle;
      this.idle = undefined;
      idle();
    }
  }

  /** Removes a settled launch's job; one still running stays an orphan until it ends. */
  private orphan(id: string): void {
    this.orphans.add(id);
    this.queue.remove(id).then(
      (removed) => {
        if (removed === 1) this.orphans.delete(id);
      },
      () => {},
    );
  }

  private cancel(stream: string): void {
    this.redis
      .publish(cancelChannel(this.opts.queue, this.opts.prefix), encodeCancel(stream))
      .catch(() => {});
  }

  // --- the reconcile pass --------------------------------------------------------------------

  private tick(): void {
    if (!this.connected && performance.now() - this.downSince >= this.opts.unreachableMs) {
      this.failAll();
      return;
    }
    this.probe();
    void this.reconcile();
  }

  /** Every batch out ends `unsendable`, with a {@link RedisUnreachableError} on each item. */
  private failAll(): void {
    const error = this.unreachable();
    for (const launch of [...this.out.values()]) this.settle(launch, blameAll(launch.count, error));
  }

  /**
   * Sends a PING, unless one is out: a Redis that is frozen (SIGSTOP, a stalled host) or cut off
   * by the network keeps its connection open and answers nothing, so no 'close' ever tells; its
   * commands would wait for ever. A PING unanswered for `unreachableMs` counts as the connection
   * lost at the time it was sent, and ends the batches out as a dead Redis does.
   */
  private probe(): void {
    if (!this.connected || this.probing !== undefined || this.stopping) return;
    const sent = performance.now();
    this.probing = sent;
    const answered = () => {
      if (this.probing !== sent) return false;
      this.probing = undefined;
      clearTimeout(this.probeTimer);
      return true;
    };
    this.probeTimer = setTimeout(() => {
      if (this.probing !== sent || !this.connected) return;
      this.down(sent);
      this.lastError =
        `Redis has not answered a PING for ${this.opts.unreachableMs} ms ` +
        '(the server is frozen or the network is cut)';
      this.failAll();
    }, this.opts.unreachableMs);
    this.probeTimer.unref();
    this.redis.ping().then(
      () => {
        if (answered()) this.up();
      },
      () => answered(),
    );
  }

  private reconcile(): Promise<void> {
    if (this.reconciling) {
      this.again = true;
      return this.reconciling;
    }
    this.reconciling = this.pass()
      .catch((error: unknown) => this.problem(error))
      .finally(() => {
        this.reconciling = undefined;
        if (this.again && !this.released) {
          this.again = false;
          void this.reconcile();
        }
      });
    return this.reconciling;
  }

  private async pass(): Promise<void> {
    const launches = [...this.out.values()].filter((launch) => launch.added);
    const orphans = [...this.orphans];
    const [jobs, stale, workers] = await Promise.all([
      Promise.all(launches.map((launch) => Job.fromId(this.queue, launch.id))),
      Promise.all(orphans.map((id) => Job.fromId(this.queue, id))),
      this.queue.getWorkersCount(),
    ]);
    this.up();
    launches.forEach((launch, i) => {
      if (launch.settled) return;
      const job = jobs[i];
      if (job === undefined) {
        this.counts.lost++;
        this.settle(launch, { type: 'lost' });
      } else if (job.finishedOn) {
        if (job.failedReason) this.failed(launch, job.failedReason, job.processedBy, 'reconcile');
        else this.completed(launch, job.data, 'reconcile');
      } else if (job.stalledCounter > 0) {
        this.crashed(launch, job.processedBy, 'reconcile');
      } else if (job.processedOn) {
        launch.active = true;
      }
    });
    orphans.forEach((id, i) => {
      const job = stale[i];
      if (job === undefined) this.orphans.delete(id);
      else if (job.finishedOn || job.stalledCounter > 0) this.orphan(id);
    });
    if (workers !== this.workers) {
      const grew = workers > this.workers;
      this.workers = workers;
      if (grew) for (const listener of this.listeners) listener();
    }
  }

  // --- the connection ------------------------------------------------------------------------

  private up(): void {
    if (this.connected) return;
    this.connected = true;
    this.lastError = '';
    // After a reconnect: events may have been lost while away, read every job's state now.
    if (!this.released) void this.reconcile();
  }

  private down(since = performance.now()): void {
    if (!this.connected) return;
    this.connected = false;
    this.downSince = since;
  }

  private problem(error: unknown): void {
    this.lastError = message(error);
  }

  private unreachable(): RedisUnreachableError {
    return new RedisUnreachableError(
      `cannot reach Redis at ${this.url} (queue '${this.opts.queue}') for ` +
        `${this.opts.unreachableMs} ms${this.lastError ? `: ${this.lastError}` : ''}`,
    );
  }

  /**
   * Removes the jobs of settled launches. One that a worker still runs (cancelled, it ends within
   * moments) cannot be removed yet (BullMQ keeps a locked job): it is tried again until it ended,
   * for `ms` at most.
   */
  private async removeOrphans(ms: number): Promise<void> {
    const deadline = performance.now() + ms;
    while (this.orphans.size > 0 && performance.now() < deadline) {
      await Promise.all(
        [...this.orphans].map(async (id) => {
          const removed = await this.queue.remove(id);
          if (removed === 1 || (await Job.fromId(this.queue, id)) === undefined) {
            this.orphans.delete(id);
          }
        }),
      );
      if (this.orphans.size > 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Closes every connection; never waits on a Redis that does not answer. */
  private release(): Promise<void> {
    this.stopping = true;
    this.released ??= (async () => {
      clearInterval(this.timer);
      clearTimeout(this.probeTimer);
      // A pass on a frozen Redis never ends: its commands fail once the clients have ended.
      if (this.reconciling)
        await within(
          this.reconciling.catch(() => {}),
          1000,
        );
      if (this.connected && this.orphans.size > 0) {
        await within(
          this.removeOrphans(ORPHANS_MS).catch(() => {}),
          ORPHANS_MS + 500,
        );
      }
      const clients = [this.redis, this.eventsClient].filter((c) => c !== undefined);
      const close = () => this.queue.close().catch(() => {});
      if (this.connected) {
        const closing = close();
        await within(closing, 2000);
        await Promise.all(clients.map(end));
        await within(closing, 1000);
      } else {
        // Out of reach: our clients end first, so that BullMQ's close finds them ended and does
        // not `disconnect()` one that waits to reconnect (ioredis then keeps a 2 s timer for the
        // old socket, which holds the process).
        await Promise.all(clients.map(end));
        await within(close(), 1000);
      }
    })();
    return this.released;
  }
}

/** The producer side of "many machines": an executor that sends batches as BullMQ jobs. */
export function bullmqExecutor(options: BullmqExecutorOptions): BullmqExecutor {
  return new BullmqExecutor(options);
}

function itemFailure(item: ItemFailureWire): ItemFailure {
  const error = reviveError(item.error);
  const hint = item.error.hint;
  const base = hint === undefined ? {} : { hint };
  switch (item.kind) {
    case 'timeout':
    case 'crashed':
      return { error, kind: item.kind, retryable: true, ...base };
    case 'threw':
      return { error, kind: 'threw', retryable: true, ...base };
    default:
      // 'clone' (the result cannot be sent back) and 'refused' (the worker does not serve it):
      // trying again cannot help.
      return { error, kind: 'threw', retryable: false, ...base };
  }
}

function blameAll(count: number, error: Error): BatchOutcome {
  return {
    type: 'unsendable',
    blamed: new Map(Array.from({ length: count }, (_, i) => [i, error])),
  };
}

/** The items that cannot be serialized, each blamed with the serializer's error. */
function blameUnserializable(inputs: readonly unknown[]): BatchOutcome {
  const blamed = new Map<number, Error>();
  inputs.forEach((input, i) => {
    try {
      serialize(input);
    } catch (error) {
      blamed.set(i, error instanceof Error ? error : new Error(String(error)));
    }
  });
  return { type: 'unsendable', blamed: blamed.size > 0 ? blamed : undefined };
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The URL without its password. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}

/**
 * Ends a client. ioredis 5/6: `disconnect()` while it waits to reconnect only clears the wait and
 * leaves it 'reconnecting' for ever (no 'end', and BullMQ's waits on it keep polling), so such a
 * client is left to its next attempt, which fails and ends it (our retryStrategy says stop).
 */
async function end(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  if (client.status !== 'reconnecting') client.disconnect();
  await within(ended, 5000);
  if ((client.status as string) !== 'end') client.disconnect();
}

async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([promise, late]);
  clearTimeout(timer);
}

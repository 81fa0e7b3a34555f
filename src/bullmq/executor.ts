/**
 * `bullmqExecutor`: the producer side of "many machines". It implements the executor seam
 * (src/executor/contract.ts) by sending each batch as one BullMQ job to the `rxpool worker`
 * processes of a queue (./serve.ts), in the job format of ./job.ts and ./result.ts.
 *
 * The pieces: the options (./options.ts); the connection to Redis and whether it is in reach
 * (./connection.ts); a batch fitted into one job (./fit.ts); the jobs out and the two paths that
 * find each one's end, the events stream and the reconcile pass (./launches.ts); what a job's
 * state means for its batch (./reconcile.ts).
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
import type {
  BatchOutcome,
  Executor,
  ExecutorBatch,
  ExecutorTraits,
  RunningBatch,
  ValuesListener,
} from '../executor/contract.js';
import { Connection, RedisUnreachableError } from './connection.js';
import { fitBatch } from './fit.js';
import { cancelChannel, encodeCancel } from './job.js';
import { type BullmqExecutorCounters, type Launch, Launches } from './launches.js';
import {
  type BullmqExecutorOptions,
  type BullmqSettings,
  bullmqSettings,
  REMOTE_CONCURRENCY,
} from './options.js';
import { blameAll } from './reconcile.js';

// The entry (./index.ts) loads this module by a dynamic import: the error class goes with it.
export { RedisUnreachableError };

export class BullmqExecutor implements Executor {
  readonly traits: ExecutorTraits;
  private readonly settings: BullmqSettings;
  private readonly link: Connection;
  private readonly launches: Launches;
  /** Qualifies this executor's job ids and stream ids among every producer of the queue. */
  private readonly tag = randomBytes(4).toString('hex');
  private readonly listeners: (() => void)[] = [];
  private readonly timer: NodeJS.Timeout;
  private seq = 0;
  private destroyed = false;
  private released: Promise<void> | undefined;

  constructor(options: BullmqExecutorOptions) {
    this.settings = bullmqSettings(options);
    this.traits = {
      targetBatchMs: this.settings.targetBatchMs,
      enforcesTimeouts: true,
      knowsPosition: false,
      concurrency: REMOTE_CONCURRENCY,
      // Flat batches: an item's values come back with its job (no credit: see FLAT_JOB_MAX_VALUES).
      streams: true,
    };
    this.link = new Connection(this.settings, {
      // After a reconnect: events may have been lost while away, read every job's state now.
      up: () => {
        if (!this.released) void this.launches.reconcile();
      },
      frozen: () => this.launches.failAll(this.link.unreachable()),
      event: (event) => this.launches.onEvent(event),
    });
    this.launches = new Launches(this.link, () => {
      for (const listener of this.listeners) listener();
    });
    this.timer = setInterval(() => this.tick(), this.settings.reconcileMs);
    this.timer.unref();
  }

  /** Connected workers (at least 1): what `pool.stats().size` shows. */
  get size(): number {
    return Math.max(1, this.launches.workers);
  }

  capacity(): number {
    const { capacity, jobsPerWorker } = this.settings;
    return capacity ?? Math.max(1, jobsPerWorker * this.launches.workers);
  }

  onCapacity(listener: () => void): void {
    this.listeners.push(listener);
  }

  stats(): { busy: number; queued: number } {
    return this.launches.stats();
  }

  /** Which path ended the batches so far, and the workers last seen. */
  counters(): BullmqExecutorCounters {
    return this.launches.counters();
  }

  /**
   * Resolves once Redis answers; rejects with a {@link RedisUnreachableError} when it does not
   * within `unreachableMs`.
   */
  ready(): Promise<void> {
    return this.link.ready();
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
    if (this.link.awayMs() > this.settings.unreachableMs) {
      return later(blameAll(batch.inputs.length, this.link.unreachable()));
    }
    // The engine's stream ids are unique within one pool only, and the cancel channel is the
    // queue's, shared by every producer on it: qualified by this executor's tag, a cancel names
    // a stream of this executor alone.
    const stream = `${this.tag}.${batch.stream}`;
    const fitted = fitBatch(batch, stream, this.settings.maxBatchBytes);
    if ('outcome' in fitted) return later(fitted.outcome);
    const launch: Launch = {
      // Every launch is a job of its own: a late finish of an old launch names an id that is no
      // longer out, and is ignored.
      id: `rx.${this.tag}.${this.seq++}`,
      stream,
      count: fitted.count,
      sentAt: performance.now(),
      report,
      values: batch.flat ? values : undefined,
      added: false,
      active: false,
      settled: false,
    };
    this.launches.add(launch, fitted.data);
    return {
      abort: (reason) => {
        if (launch.settled) return;
        if (reason === 'cancel') this.cancel(launch.stream);
        this.launches.settle(launch, { type: 'aborted' });
      },
    };
  }

  /** No new batches: waits for those out, then releases every connection. */
  async close(): Promise<void> {
    await this.launches.whenIdle();
    await this.release();
  }

  /** Stops now: batches out are reported 'aborted', their jobs removed or cancelled. */
  async destroy(): Promise<void> {
    this.destroyed = true;
    const streams = new Set<string>();
    for (const launch of this.launches.all()) {
      streams.add(launch.stream);
      this.launches.settle(launch, { type: 'aborted' });
    }
    for (const stream of streams) this.cancel(stream);
    await this.release();
  }

  /** Every worker of the queue stops the stream's running jobs and refuses its waiting ones. */
  private cancel(stream: string): void {
    const { queue, prefix } = this.settings;
    this.link.redis.publish(cancelChannel(queue, prefix), encodeCancel(stream)).catch(() => {});
  }

  private tick(): void {
    if (this.link.awayMs() >= this.settings.unreachableMs) {
      this.launches.failAll(this.link.unreachable());
      return;
    }
    this.link.probe();
    void this.launches.reconcile();
  }

  /** Closes every connection; never waits on a Redis that does not answer. */
  private release(): Promise<void> {
    this.link.stop();
    this.released ??= (async () => {
      clearInterval(this.timer);
      await this.launches.close();
      await this.link.close();
    })();
    return this.released;
  }
}

/** The producer side of "many machines": an executor that sends batches as BullMQ jobs. */
export function bullmqExecutor(options: BullmqExecutorOptions): BullmqExecutor {
  return new BullmqExecutor(options);
}

/**
 * What `rxpool worker` runs: a BullMQ `Worker` (./batch-worker.ts) that takes rxpool's batch jobs
 * from a queue and runs their items on a local {@link Pool} through its public API
 * (`pool.imapSettled`), so that per-item timeouts, crashes and clone failures are handled here
 * exactly as with threads and come back per item (the job format: ./job.ts, ./result.ts). What a
 * job's work spec runs is ./served-work.ts's to say. It listens to the queue's cancel channel and
 * stops the running jobs of a cancelled stream.
 *
 * This is the consumer side: it uses a whole local pool, so it sits above the engine, and none of
 * the producer's files (./executor.ts and what it imports) imports it.
 */
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Job } from 'bullmq';
import { Redis } from 'ioredis';
import { realClock } from '../engine/clock.js';
import type { ItemSpan } from '../executor/contract.js';
import {
  type Pool,
  type Settled,
  type Task,
  type TaskError,
  TaskTimeoutError,
  WorkerCrashedError,
} from '../index.js';
import { ITEM_TRACES, ORIGIN, resolveParallel } from '../options.js';
import { engineIterable } from '../pool/imap.js';
import { imapSettledSpread } from '../pool/pool.js';
import { BatchWorker, unreadReason } from './batch-worker.js';
import {
  CANCEL_MEMORY_MS,
  CANCELLED,
  cancelChannel,
  decodeBatch,
  decodeCancel,
  FORMAT_VERSION,
  FormatError,
} from './job.js';
import type { ServedModule } from './modules.js';
import {
  type BatchJobDone,
  encodeResult,
  type FailureKind,
  type ItemFailureWire,
  toWireError,
  wireError,
} from './result.js';
import { ServedWork } from './served-work.js';
import { within } from './within.js';

/** How long closing waits for BullMQ's close once the running jobs have run, in ms. */
const CLOSE_GRACE_MS = 2000;

export interface ServeOptions {
  /** `redis://` or `rediss://` URL. */
  readonly redis: string;
  readonly queue: string;
  /** The local pool the items run on; the server does not close it. */
  readonly pool: Pool;
  /** Jobs run at once (as many as the pool has threads). */
  readonly concurrency: number;
  readonly modules: readonly ServedModule[];
  readonly allowInline: boolean;
  /** Where progress and problems are reported, one line each. */
  readonly log: (line: string) => void;
}

/**
 * A BullMQ worker on one queue that runs rxpool's batch jobs. {@link BatchServer.start} connects;
 * {@link BatchServer.close} takes no new job, waits for the running ones, and disconnects.
 */
export class BatchServer {
  private readonly worker: BatchWorker;
  private readonly subscriber: Redis;
  /** The stream of each running job, by job id. */
  private readonly running = new Map<string, string>();
  /** Streams cancelled lately, with when. */
  private readonly cancelled = new Map<string, number>();
  private readonly work: ServedWork;
  private readonly id = `${hostname()}:${process.pid}`;
  private lastError = '';
  /** Called when the last running job has run (while closing). */
  private drained: (() => void) | undefined;

  /** The last connection problem reported, if any. */
  get connectionProblem(): string | undefined {
    return this.lastError || undefined;
  }

  constructor(private readonly options: ServeOptions) {
    this.work = new ServedWork(options.modules, options.allowInline);
    this.worker = new BatchWorker(
      options.queue,
      options.redis,
      this.id,
      options.concurrency,
      (job, _token, signal) => this.process(job, signal),
    );
    this.worker.on('error', (error) => this.problem(error));
    this.subscriber = new Redis(options.redis, { lazyConnect: true, maxRetriesPerRequest: null });
    this.subscriber.on('error', (error) => this.problem(error));
    this.subscriber.on('message', (_channel: string, message: string) => this.onCancel(message));
  }

  /** Connects to Redis and starts taking jobs; resolves once it is ready. */
  async start(): Promise<void> {
    await this.subscriber.connect();
    await this.subscriber.subscribe(cancelChannel(this.options.queue));
    await this.worker.waitUntilReady();
    void this.worker.run().catch((error: unknown) => this.problem(error));
  }

  /** How many jobs run now. */
  get active(): number {
    return this.running.size;
  }

  /**
   * Takes no new job, waits until the running ones have finished, then disconnects. BullMQ's own
   * close also waits for its connections, and for a finished job's result to reach Redis, for
   * ever while Redis is out of reach (BullMQ 6.7 retries those commands until they succeed): it
   * gets {@link CLOSE_GRACE_MS} once our jobs have run. A result it could not deliver is not
   * lost: the job's lock expires and the producer runs its batch again.
   */
  async close(): Promise<void> {
    const closing = this.worker.close().catch((error: unknown) => this.problem(error));
    if (this.running.size > 0) {
      await new Promise<void>((resolve) => {
        this.drained = resolve;
      });
    }
    await within(closing, CLOSE_GRACE_MS);
    this.subscriber.disconnect();
  }

  /** Stops at once, without waiting for running jobs (when {@link BatchServer.start} failed). */
  async abort(): Promise<void> {
    this.subscriber.disconnect();
    await this.worker.close(true).catch(() => {});
  }

  /** Reports a connection problem once, not on every reconnect attempt. */
  private problem(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    if (message === this.lastError) return;
    this.lastError = message;
    this.options.log(`redis: ${message}`);
  }

  private onCancel(message: string): void {
    const stream = decodeCancel(message);
    if (stream === undefined) return;
    const now = Date.now();
    this.cancelled.set(stream, now);
    for (const [at, when] of this.cancelled) {
      if (now - when > CANCEL_MEMORY_MS) this.cancelled.delete(at);
    }
    for (const [jobId, of] of this.running) {
      if (of === stream) this.worker.cancelJob(jobId, CANCELLED);
    }
  }

  private async process(job: Job, signal: AbortSignal | undefined): Promise<BatchJobDone> {
    const started = performance.now();
    const unread = unreadReason(job);
    if (unread !== undefined) {
      this.options.log(`refused job ${job.id}: ${unread}`);
      throw new FormatError(unread);
    }
    const batch = decodeBatch(job.data);
    if (this.cancelled.has(batch.stream)) throw new Error(CANCELLED);
    const resolved = this.work.resolve(batch.work);
    const count = batch.inputs.length;
    // Filled by push: a packed array, which v8's serializer writes densely (an array made by
    // `new Array(count)` has holes, and goes as index/value pairs, far slower both ways).
    const values: unknown[] = [];
    for (let i = 0; i < count; i++) values.push(undefined);
    const failures: ItemFailureWire[] = [];
    if ('refused' in resolved) {
      for (let index = 0; index < count; index++) {
        failures.push({ index, kind: 'refused', error: resolved.refused });
      }
    } else {
      this.running.set(job.id!, batch.stream);
      try {
        if (batch.flat) {
          await this.flatItems(resolved.work as Task, batch, values, failures, signal);
        } else {
          const { pool } = this.options;
          const options = {
            ordered: false,
            retry: 0,
            timeout: batch.timeout,
            signal,
            // Each item's caller's trace context, on to the thread that runs it; the producer's
            // indexes and attempts, for each task's context.
            ...({ [ITEM_TRACES]: batch.traces, [ORIGIN]: batch.spans } as {}),
          } as const;
          // A producer's `pool.starmap`: each input is spread into the call, as on its threads.
          const settled = batch.work.spread
            ? pool[imapSettledSpread](resolved.work as Task, batch.inputs, options)
            : pool.imapSettled(resolved.work as Task, batch.inputs, options);
          for await (const item of settled) {
            if (item.ok) values[item.index] = item.value;
            else failures.push(failure(item.index, item.error));
          }
        }
      } catch (error) {
        if (signal?.aborted) throw new Error(CANCELLED);
        throw error;
      } finally {
        this.running.delete(job.id!);
        if (this.running.size === 0) this.drained?.();
      }
    }
    // The outcomes replace the inputs in the job's data; the return value, which BullMQ also
    // writes into the queue's events stream, stays small (see ./job.ts).
    await job.updateData(encodeResult({ values, failures }, performance.now() - started, this.id));
    return { v: FORMAT_VERSION, worker: this.id };
  }

  /**
   * A flat batch: each item's values (all of them, in order) into `values[i]`, its failure into
   * `failures`. The items run side by side, each a flat stream of its own on the local pool, so
   * that an item that gives more than the job's `maxValues` is stopped alone (its generator's
   * `return()` runs) and fails after those values.
   */
  private async flatItems(
    work: Task,
    batch: ReturnType<typeof decodeBatch>,
    values: unknown[],
    failures: ItemFailureWire[],
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const { maxValues } = batch.flat!;
    const { pool } = this.options;
    await Promise.all(
      batch.inputs.map(async (input, index) => {
        // Its caller's trace context and the producer's index and attempt, as for any job's item.
        const trace = batch.traces?.[index];
        const resolved = resolveParallel(
          work,
          {
            timeout: batch.timeout,
            retry: 0,
            signal,
            ...({
              [ITEM_TRACES]: trace && [trace],
              [ORIGIN]: [spanAt(batch.spans, index)],
            } as {}),
          },
          'rxpool worker',
          true,
        );
        const mine: unknown[] = [];
        values[index] = mine;
        const items = engineIterable<unknown, unknown, Settled<unknown, unknown>>(
          [input],
          resolved,
          () => pool.dispatcher,
          realClock,
          true,
        );
        for await (const item of items) {
          if (!item.ok) {
            failures.push(failure(index, item.error));
            return;
          }
          if (mine.length === maxValues) {
            failures.push({
              index,
              kind: 'threw',
              error: wireError(
                'RangeError',
                `The item gave more than ${maxValues} values, the most one job carries back ` +
                  'through Redis (bullmqExecutor): split it into smaller items',
                'clone',
              ),
            });
            return; // stops its generator in its worker
          }
          mine.push(item.value);
        }
      }),
    );
    if (signal?.aborted) throw new Error(CANCELLED);
  }
}

/** A failed item of the local pool as its failure in the job's result. */
function failure(index: number, error: TaskError): ItemFailureWire {
  const kind: FailureKind =
    error instanceof TaskTimeoutError
      ? 'timeout'
      : error instanceof WorkerCrashedError
        ? 'crashed'
        : error.cause?.name === 'DataCloneError'
          ? 'clone'
          : 'threw';
  const wire = toWireError(error.cause);
  return {
    index,
    kind,
    error: { ...wire, fatal: kind === 'clone' ? 'clone' : undefined, hint: error.hint },
  };
}

/** The span of the item at `position` of a job whose items are `spans`. */
function spanAt(spans: readonly ItemSpan[], position: number): ItemSpan {
  let at = position;
  for (const span of spans) {
    if (at < span.count) return { index: span.index + at, count: 1, attempt: span.attempt };
    at -= span.count;
  }
  return { index: position, count: 1, attempt: 1 };
}

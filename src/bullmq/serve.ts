/**
 * What `rxpool worker` runs: a BullMQ `Worker` that takes rxpool's batch jobs from a queue and runs
 * their items on a local {@link Pool} through its public API (`pool.imapSettled`), so that per-item
 * timeouts, crashes and clone failures are handled here exactly as with threads and come back per
 * item (the job format: ./job.ts). It listens to the queue's cancel channel and stops the running
 * jobs of a cancelled stream.
 */
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { type Job, type JobJson, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { realClock } from '../engine/clock.js';
import type { ItemSpan } from '../executor/contract.js';
import {
  type Pool,
  type Settled,
  type Task,
  TaskError,
  TaskTimeoutError,
  task,
  WorkerCrashedError,
} from '../index.js';
import { ITEM_TRACES, ORIGIN, resolveParallel } from '../options.js';
import { describeFunctions } from '../pool/exports.js';
import { engineIterable } from '../pool/imap.js';
import { imapSettledSpread } from '../pool/pool.js';
import {
  type BatchJobDone,
  CANCEL_MEMORY_MS,
  CANCELLED,
  cancelChannel,
  decodeBatch,
  decodeCancel,
  encodeResult,
  type FailureKind,
  FORMAT_VERSION,
  FormatError,
  type ItemFailureWire,
  MAX_BATCH_BYTES,
  MAX_JOB_BYTES,
  toWireError,
  type WireError,
  type WorkSpec,
  wireError,
} from './job.js';

/**
 * BullMQ's lock on a running job lasts this long and is renewed every half of it; a job whose
 * worker died is found by the stalled check (every {@link STALLED_INTERVAL_MS}) once its lock
 * expired: within about 3 s, where BullMQ's defaults (30 s, 30 s) take up to a minute.
 */
export const LOCK_DURATION_MS = 2000;
export const STALLED_INTERVAL_MS = 1000;

/** How long closing waits for BullMQ's close once the running jobs have run, in ms. */
export const CLOSE_GRACE_MS = 2000;

/** The key of the data that {@link BatchWorker} gives a job it cannot read: why. */
const UNREAD = 'rxpool:unread';

/**
 * BullMQ's `Worker`, with the jobs it cannot read turned into jobs that fail once and are
 * removed. BullMQ 6.7 parses a job's data as JSON while it takes the job (`createJob`, a
 * protected method meant to be overridden), before any processor runs: data that is not JSON
 * throws there, the job stays active without a lock, stalls, and is taken again for ever. Here
 * such a job (and one over {@link MAX_JOB_BYTES}, not even parsed) is made a job whose data says
 * why, which the processor fails (its reason in BullMQ's `failed` event, where its producer can
 * see it), with `removeOnFail`: no rxpool producer sent it, and none will read it.
 */
class BatchWorker extends Worker {
  protected override createJob(raw: JobJson, jobId: string): Job {
    const text = typeof raw.data === 'string' ? raw.data : '';
    // A UTF-16 unit is at most 3 bytes of UTF-8: count the bytes only when it could matter.
    const bytes = text.length * 3 > MAX_JOB_BYTES ? Buffer.byteLength(text) : text.length;
    let reason: string;
    if (bytes > MAX_JOB_BYTES) {
      reason =
        `the job's data is ${bytes} bytes, over rxpool worker's limit of ${MAX_JOB_BYTES} ` +
        `(a producer's jobs stay under it: its maxBatchBytes is at most ${MAX_BATCH_BYTES})`;
    } else {
      try {
        return super.createJob(raw, jobId);
      } catch (error) {
        reason = `the job's data cannot be read (not JSON): ${(error as Error).message}`;
      }
    }
    const data = JSON.stringify({ [UNREAD]: reason });
    let job: Job;
    try {
      job = super.createJob({ ...raw, data }, jobId);
    } catch {
      job = super.createJob({ ...raw, data, opts: {} }, jobId);
    }
    job.opts.removeOnFail = true;
    return job;
  }
}

/** Why {@link BatchWorker} could not read the job, if it could not. */
function refusedReason(job: Job): string | undefined {
  const data = job.data as Record<string, unknown> | null;
  const reason = data !== null && typeof data === 'object' ? data[UNREAD] : undefined;
  return typeof reason === 'string' ? reason : undefined;
}

/** A module the worker serves. */
export interface ServedModule {
  /** The path as given on the command line. */
  readonly given: string;
  /** Its `file:` URL on this machine. */
  readonly url: string;
  /** Its function exports; `undefined` when they were not looked up (a TypeScript module). */
  readonly functions: readonly string[] | undefined;
}

/** Which served module a producer's `task(url)` reference runs, or why none. */
export type Match =
  | { readonly ok: true; readonly module: ServedModule }
  | { readonly ok: false; readonly message: string };

/** A URL's path segments, decoded (`file:///C:/a/b.mjs` too). */
function segments(url: string): string[] {
  const { pathname } = new URL(url);
  return pathname
    .split('/')
    .filter((part) => part !== '')
    .map((part) => decodeURIComponent(part));
}

/**
 * Matches a producer's module URL to a served module. Paths differ between machines, so the
 * match is by the path's end: a served module matches when its file name is the same, and among
 * those the one that shares the most trailing folders wins (the same path shares them all). Two
 * served modules that tie are ambiguous: the job's items are refused, naming both.
 */
export function matchModule(url: string, served: readonly ServedModule[]): Match {
  let wanted: string[];
  try {
    wanted = segments(url);
  } catch {
    return { ok: false, message: `the task module '${url}' is not a URL` };
  }
  let best: ServedModule[] = [];
  let bestLength = 0;
  for (const module of served) {
    const have = segments(module.url);
    let common = 0;
    while (
      common < wanted.length &&
      common < have.length &&
      wanted[wanted.length - 1 - common] === have[have.length - 1 - common]
    ) {
      common++;
    }
    if (common === 0) continue;
    if (common > bestLength) {
      best = [module];
      bestLength = common;
    } else if (common === bestLength) {
      best.push(module);
    }
  }
  const names = served.map((module) => module.given).join(', ');
  if (best.length === 0) {
    return {
      ok: false,
      message:
        `this worker does not serve the task module '${url}': it serves ${names || 'no modules'} ` +
        '(a module is matched by its file name, then by the most folders in common); start ' +
        'rxpool worker with that module on its command line',
    };
  }
  if (best.length > 1) {
    return {
      ok: false,
      message:
        `the task module '${url}' matches several served modules equally ` +
        `(${best.map((module) => module.given).join(', ')}); serve only one of them on this queue`,
    };
  }
  return { ok: true, module: best[0]! };
}

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

/** The work a job's spec names, or the failure every one of its items gets. */
type Resolved = { readonly work: Task | Function } | { readonly refused: WireError };

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
  private readonly tasks = new Map<string, Task>();
  private readonly inline = new Map<string, Function>();
  private readonly id = `${hostname()}:${process.pid}`;
  private lastError = '';
  /** Called when the last running job has run (while closing). */
  private drained: (() => void) | undefined;

  /** The last connection problem reported, if any. */
  get connectionProblem(): string | undefined {
    return this.lastError || undefined;
  }

  constructor(private readonly options: ServeOptions) {
    this.worker = new BatchWorker(
      options.queue,
      (job, _token, signal) => this.process(job, signal),
      {
        connection: { url: options.redis, maxRetriesPerRequest: null },
        // Recorded on each job it takes (`processedBy`): which worker a stalled job was on.
        name: this.id,
        autorun: false,
        concurrency: options.concurrency,
        lockDuration: LOCK_DURATION_MS,
        stalledInterval: STALLED_INTERVAL_MS,
        // The producer's engine is the one retry accountant: a job whose worker died is never run
        // again by BullMQ; it ends `failed` ("job stalled more than allowable limit", see ./job.ts
        // for how BullMQ 6.7 gets there) and the producer launches the batch again as a new job.
        maxStalledCount: 0,
        // The producer removes a job once it has read it; these only bound what a producer that
        // went away leaves behind.
        removeOnComplete: { age: 24 * 3600 },
        removeOnFail: { age: 24 * 3600 },
      },
    ) as BatchWorker;
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
    const unread = refusedReason(job);
    if (unread !== undefined) {
      this.options.log(`refused job ${job.id}: ${unread}`);
      throw new FormatError(unread);
    }
    const batch = decodeBatch(job.data);
    if (this.cancelled.has(batch.stream)) throw new Error(CANCELLED);
    const resolved = this.resolve(batch.work);
    const count = batch.inputs.length;
    // Filled by push: a packed array, which v8's serializer writes densely (an array made by
    // `new Array(count)` has holes, and goes as index/value pairs, 3-4x slower both ways).
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

  /** The work to run for `spec`: a served module's export, or (allowed) inline code. */
  private resolve(spec: WorkSpec): Resolved {
    if (spec.kind === 'inline') {
      if (!this.options.allowInline) {
        return refused(
          'InlineRefusedError',
          'this worker does not run inline functions (code sent through Redis); start rxpool ' +
            'worker with --allow-inline to allow them, or use task(module, exportName) with a ' +
            'module the worker serves',
        );
      }
      let fn = this.inline.get(spec.source);
      if (fn === undefined) {
        try {
          fn = new Function(`return (${spec.source});`)() as Function;
        } catch (error) {
          return refused('SyntaxError', `the inline function does not compile: ${String(error)}`);
        }
        if (typeof fn !== 'function') {
          return refused('TypeError', 'the inline source is not a function');
        }
        if (this.inline.size >= 256) this.inline.clear();
        this.inline.set(spec.source, fn);
      }
      return { work: fn };
    }
    const key = `${spec.url}\n${spec.name}`;
    const known = this.tasks.get(key);
    if (known) return { work: known };
    const match = matchModule(spec.url, this.options.modules);
    if (!match.ok) return refused('ModuleNotServedError', match.message);
    const { functions } = match.module;
    if (functions !== undefined && !functions.includes(spec.name)) {
      return refused(
        'ExportNotFoundError',
        `the served module '${match.module.given}' has no function export named '${spec.name}'; ${describeFunctions(functions)}`,
      );
    }
    const work = task(fileURLToPath(match.module.url), spec.name);
    if (this.tasks.size >= 256) this.tasks.clear();
    this.tasks.set(key, work);
    return { work };
  }
}

function refused(name: string, message: string): { refused: WireError } {
  return { refused: wireError(name, message, 'load') };
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
    error: { ...wire, fatal: kind === 'clone' ? 'clone' : undefined, hint: hintOf(error) },
  };
}

/** The advice a `TaskError`'s message carries after its first line (an inline function's). */
function hintOf(error: TaskError): string | undefined {
  const base = TaskError.describe({
    index: error.index,
    input: error.input,
    attempts: error.attempts,
    cause: error.cause,
  });
  return error.message.startsWith(`${base}\n`) ? error.message.slice(base.length + 1) : undefined;
}

async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([promise, late]);
  clearTimeout(timer);
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

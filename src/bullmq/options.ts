/**
 * `bullmqExecutor`'s options: what a user may set, their defaults, and their validation, done
 * once when the executor is made (a bad value throws there, naming what was expected).
 */
import type { RedisOptions } from 'ioredis';
import { fail } from '../errors.js';
import { MAX_BATCH_BYTES } from './job.js';

/**
 * Options of `bullmqExecutor`: where Redis is, which queue, and how jobs are sized and
 * watched. Only `connection` and `queue` are required; each option is checked when the executor
 * is made, and a bad one throws a `TypeError` that names it.
 */
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
  readonly streams?: {
    /** The queue's events stream. */
    readonly events?: {
      /** Its cap, in events (BullMQ trims it approximately). */
      readonly maxLen?: number;
    };
  };
}

/** The options once checked, with their defaults filled in. */
export interface BullmqSettings {
  readonly connection: string | RedisOptions;
  readonly queue: string;
  readonly prefix: string;
  /** `undefined`: {@link BullmqSettings.jobsPerWorker} per connected worker. */
  readonly capacity: number | undefined;
  readonly jobsPerWorker: number;
  readonly targetBatchMs: number;
  readonly maxBatchBytes: number;
  readonly reconcileMs: number;
  readonly unreachableMs: number;
  readonly events: boolean;
  /** `undefined`: the queue's cap is left as BullMQ has it. */
  readonly maxLen: number | undefined;
}

/**
 * The window of a stream that sets no `concurrency`. Each job costs a few Redis round trips and
 * BullMQ scripts whatever it holds, and a batch is at most an even share of the window among the
 * jobs out: with the threads' window the jobs stay small and that fixed cost bounds the
 * throughput of trivial items. This window fills a few jobs up to the engine's largest batch
 * (bench case `remote` compares the two).
 */
export const REMOTE_CONCURRENCY = 262_144;

const DEFAULTS = {
  prefix: 'bull',
  jobsPerWorker: 2,
  targetBatchMs: 200,
  maxBatchBytes: 8 * 1024 * 1024,
  reconcileMs: 1000,
  unreachableMs: 5000,
} as const;

/** Checks `options` (throws a `TypeError` naming the first bad one) and fills in the defaults. */
export function bullmqSettings(options: BullmqExecutorOptions): BullmqSettings {
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
  return {
    connection,
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
    maxLen,
  };
}

/**
 * The options that every face shares, their defaults, and their validation. Messages say what was
 * expected and what came, as p-map's do.
 */

import type { EngineConfig } from './engine/engine.js';
import type { Progress } from './engine/progress.js';
import { type RetryConfig, retryPolicy } from './engine/retry.js';
import type { Pool } from './pool/pool.js';
import { describeValue, toWorkSpec } from './pool/task.js';
import type { Transferable } from './types.js';

/**
 * The most items taken from the source and not yet emitted, by default. Large enough that items
 * travel to the workers in batches of a few thousand when they are small; small enough that a
 * slow item at the head of an ordered stream holds a bounded amount of memory.
 */
export const DEFAULT_CONCURRENCY = 4096;

/** Options of `parallelMap`, `parallelSettle`, `pool.imap` and `pool.map`. */
export interface ParallelOptions<In = any> {
  /**
   * `true`: results in source order; `false`: in completion order.
   * @default true
   */
  readonly ordered?: boolean;
  /**
   * The most items taken from the source and not yet emitted: running, waiting for a worker, or
   * finished and waiting for their turn (ordered mode). An integer from 1 up, or `Infinity`.
   * @default 4096
   */
  readonly concurrency?: number;
  /** The pool to run on. @default the shared default pool */
  readonly pool?: Pool;
  /**
   * How many items may travel to a worker in one message. `'auto'` sends an item alone while
   * workers are idle and batches of a few milliseconds' work once items queue up.
   * @default 'auto'
   */
  readonly batchSize?: number | 'auto';
  /**
   * ms each attempt of an item may run. Past it the attempt fails with `TaskTimeoutError`, and the
   * worker running it is stopped and replaced.
   * @default undefined (no timeout)
   */
  readonly timeout?: number;
  /** Attempts after the first, or a {@link RetryConfig}. @default 0 */
  readonly retry?: number | RetryConfig;
  /** The `ArrayBuffer`s of an input to move to the worker instead of copying them. */
  readonly transfer?: (input: In) => readonly Transferable[];
  /** Stops the work when it fires (`pool.imap` and `pool.map`). */
  readonly signal?: AbortSignal;
  /**
   * Called with counts of the work done, at most every 100 ms while items are emitted and once
   * more, with `final: true`, when the stream completes. See {@link Progress}.
   */
  readonly progress?: (progress: Progress) => void;
  /**
   * How many items the source will give, for the progress ETA.
   * @default the length of an array given to `pool.map`/`pool.imap`; otherwise unknown
   */
  readonly total?: number;
}

/** Options of `pool.run`. */
export interface RunOptions<In = any> {
  readonly signal?: AbortSignal;
  readonly timeout?: number;
  readonly retry?: number | RetryConfig;
  /** The `ArrayBuffer`s of the input to move to the worker instead of copying them. */
  readonly transfer?: readonly Transferable[] | ((input: In) => readonly Transferable[]);
}

const parallelKeys = [
  'ordered',
  'concurrency',
  'pool',
  'batchSize',
  'timeout',
  'retry',
  'transfer',
  'signal',
  'progress',
  'total',
];
const runKeys = ['signal', 'timeout', 'retry', 'transfer'];

/** What a face needs to start an engine. */
export interface Resolved<In> {
  readonly config: EngineConfig<In>;
  readonly pool: Pool | undefined;
  readonly signal: AbortSignal | undefined;
}

/** Validates `work` and options at once (at the operator's call, before any subscription). */
export function resolveParallel<In>(
  work: unknown,
  options: ParallelOptions<In> | undefined,
  where: string,
): Resolved<In> {
  const spec = toWorkSpec(work);
  const o = checkObject(options, where, parallelKeys) as ParallelOptions<In>;
  const ordered = o.ordered ?? true;
  if (typeof ordered !== 'boolean') fail('ordered', 'a boolean', ordered);
  const concurrency = o.concurrency ?? DEFAULT_CONCURRENCY;
  if (!(Number.isInteger(concurrency) && concurrency >= 1) && concurrency !== Infinity) {
    fail('concurrency', 'an integer from 1 up or `Infinity`', concurrency);
  }
  const batchSize = o.batchSize ?? 'auto';
  if (batchSize !== 'auto' && !(Number.isInteger(batchSize) && batchSize >= 1)) {
    fail('batchSize', "`'auto'` or an integer from 1 up", batchSize);
  }
  if (o.pool !== undefined && !isPoolLike(o.pool)) {
    fail('pool', 'a Pool from createPool()', o.pool);
  }
  if (o.transfer !== undefined && typeof o.transfer !== 'function') {
    fail('transfer', 'a function (input) => Transferable[]', o.transfer);
  }
  if (o.progress !== undefined && typeof o.progress !== 'function') {
    fail('progress', 'a function (progress) => void', o.progress);
  }
  if (o.total !== undefined && !(Number.isInteger(o.total) && o.total >= 0)) {
    fail('total', 'an integer from 0 up', o.total);
  }
  return {
    config: {
      work: spec,
      concurrency,
      ordered,
      batchSize,
      timeout: checkTimeout(o.timeout),
      retry: retryPolicy(checkRetry(o.retry)),
      transfer: o.transfer,
      progress: o.progress,
      total: o.total,
    },
    pool: o.pool,
    signal: checkSignal(o.signal),
  };
}

/** Validates `pool.run`'s work and options. */
export function resolveRun<In>(work: unknown, options: RunOptions<In> | undefined): Resolved<In> {
  const spec = toWorkSpec(work);
  const o = checkObject(options, 'pool.run', runKeys) as RunOptions<In>;
  const transfer = o.transfer;
  let transferFn: ((input: In) => readonly Transferable[]) | undefined;
  if (Array.isArray(transfer)) transferFn = () => transfer;
  else if (typeof transfer === 'function') transferFn = transfer;
  else if (transfer !== undefined) {
    fail('transfer', 'an array of Transferables or a function', transfer);
  }
  return {
    config: {
      work: spec,
      concurrency: 1,
      ordered: true,
      batchSize: 1,
      timeout: checkTimeout(o.timeout),
      retry: retryPolicy(checkRetry(o.retry)),
      transfer: transferFn,
    },
    pool: undefined,
    signal: checkSignal(o.signal),
  };
}

function checkObject(options: unknown, where: string, known: string[]): Record<string, unknown> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object') {
    throw new TypeError(
      `Expected the options of ${where} to be an object, got ${describeValue(options)}`,
    );
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new TypeError(
        `Unknown option \`${key}\` for ${where}; the options are ${known.map((k) => `\`${k}\``).join(', ')}`,
      );
    }
  }
  return options as Record<string, unknown>;
}

function checkTimeout(timeout: unknown): number | undefined {
  if (timeout === undefined || timeout === Infinity) return undefined;
  if (typeof timeout !== 'number' || !(timeout > 0) || !Number.isFinite(timeout)) {
    fail('timeout', 'a number of ms above 0 (or `Infinity` for none)', timeout);
  }
  return timeout;
}

function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) fail('signal', 'an AbortSignal', signal);
  return signal;
}

function checkRetry(retry: unknown): number | RetryConfig | undefined {
  if (retry === undefined) return undefined;
  if (typeof retry === 'number') {
    if (!(Number.isInteger(retry) && retry >= 0)) {
      fail('retry', 'an integer from 0 up, or { count, delay, backoff, maxDelay, retryIf }', retry);
    }
    return retry;
  }
  if (retry === null || typeof retry !== 'object') {
    fail('retry', 'an integer from 0 up, or { count, delay, backoff, maxDelay, retryIf }', retry);
  }
  const r = checkObject(retry, '`retry`', ['count', 'delay', 'backoff', 'maxDelay', 'retryIf']);
  if (!(Number.isInteger(r.count) && (r.count as number) >= 0)) {
    fail('retry.count', 'an integer from 0 up', r.count);
  }
  if (
    r.delay !== undefined &&
    !(typeof r.delay === 'number' && r.delay >= 0 && Number.isFinite(r.delay))
  ) {
    fail('retry.delay', 'a number of ms from 0 up', r.delay);
  }
  if (r.backoff !== undefined && r.backoff !== 'fixed' && r.backoff !== 'exponential') {
    fail('retry.backoff', "`'fixed'` or `'exponential'`", r.backoff);
  }
  if (r.maxDelay !== undefined && !(typeof r.maxDelay === 'number' && r.maxDelay >= 0)) {
    fail('retry.maxDelay', 'a number of ms from 0 up', r.maxDelay);
  }
  if (r.retryIf !== undefined && typeof r.retryIf !== 'function') {
    fail('retry.retryIf', 'a function (error, attempt) => boolean', r.retryIf);
  }
  return r as unknown as RetryConfig;
}

function isPoolLike(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as Pool).imap === 'function';
}

/** Throws the house-style message: what was expected and what came. */
export function fail(name: string, expected: string, got: unknown): never {
  throw new TypeError(`Expected \`${name}\` to be ${expected}, got ${describeValue(got)}`);
}

/**
 * Every option of every face is checked here, and only here: the operators, the Pool's methods
 * and `createPool` call these at once, so a bad value throws before any work starts. Messages say
 * what was expected and what came, as p-map's do. The options' types and documentation are in
 * src/option-types.ts and src/pool/pool-options.ts. (An executor checks its own options, as
 * `bullmqExecutor` does in src/bullmq/options.ts, with the same `fail`.)
 */

import {
  checkEnv,
  checkExecutor,
  checkedKey,
  checkObject,
  checkRetry,
  checkSignal,
  checkTimeout,
  isPoolLike,
} from './checks.js';
import type { EngineConfig } from './engine/engine.js';
import { DEFAULT_HIGH_WATER_MARK } from './engine/flat.js';
import { retryPolicy } from './engine/retry.js';
import { describeValue, fail } from './errors.js';
import type { Executor } from './executor/contract.js';
import type { FlatOptions, ParallelOptions, RunOptions } from './option-types.js';
import type { Pool } from './pool/pool.js';
import type { PoolOptions } from './pool/pool-options.js';
import { toWorkSpec } from './pool/task.js';
import type { Transferable } from './types.js';
import type { WorkSpec } from './wire/work.js';

// The executors' own checks (rxpool/bullmq) throw the same message.

export { DEFAULT_CONCURRENCY } from './engine/defaults.js';

/**
 * An option that no user sets: the trace context of each item of the input, by position (an
 * `rxpool worker` passes on its job's, src/bullmq/serve.ts), instead of the context active at
 * each push. A symbol: not in the options a user sees, nor in the check of unknown ones.
 */
export const ITEM_TRACES: unique symbol = Symbol('rxpool.itemTraces');

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
  'key',
];
const runKeys = ['signal', 'timeout', 'retry', 'transfer'];

/** The options that configure the default executor: none may come with `executor`. */
const defaultExecutorKeys = [
  'size',
  'runtime',
  'idleTimeout',
  'maxTasksPerWorker',
  'setup',
  'maxHeapMb',
  'env',
  'abortGrace',
  'teardown',
  'recycleMemoryMb',
];
const poolKeys = [...defaultExecutorKeys, 'executor'];

/** The longest delay of a timer (`setTimeout` fires at once past it). */
const MAX_TIMER_MS = 2 ** 31 - 1;

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
  flat = false,
): Resolved<In> {
  const spec = toWorkSpec(work);
  const o = checkObject(
    options,
    where,
    flat ? [...parallelKeys, 'highWaterMark'] : parallelKeys,
  ) as FlatOptions<In>;
  const highWaterMark = o.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  if (!(Number.isInteger(highWaterMark) && highWaterMark >= 1)) {
    fail('highWaterMark', 'an integer from 1 up', highWaterMark);
  }
  const ordered = o.ordered ?? true;
  if (typeof ordered !== 'boolean') fail('ordered', 'a boolean', ordered);
  const { concurrency } = o;
  if (
    concurrency !== undefined &&
    !(Number.isInteger(concurrency) && concurrency >= 1) &&
    concurrency !== Infinity
  ) {
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
  if (o.key !== undefined && typeof o.key !== 'function') {
    fail('key', 'a function (input) => string | number', o.key);
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
      flat: flat ? { highWaterMark } : undefined,
      key: o.key && checkedKey(o.key),
      traces: (o as { [ITEM_TRACES]?: EngineConfig<In>['traces'] })[ITEM_TRACES],
      origin: (o as { [ORIGIN]?: EngineConfig<In>['origin'] })[ORIGIN],
    },
    pool: o.pool,
    signal: checkSignal(o.signal),
  };
}

/**
 * Validates the options of the Pool's iterating methods (`imap`, `imapSettled`, `imapFlat`,
 * `map`, `starmap`), which run on the pool they are called on; an array's length is the progress
 * total. `spread`: each item is an array of arguments for the work (`starmap`).
 */
export function resolveIterable<In>(
  work: unknown,
  items: unknown,
  options: ParallelOptions<In> | undefined,
  where: string,
  spread = false,
  flat = false,
): Resolved<In> {
  if (options?.pool !== undefined) {
    throw new TypeError(
      `Unknown option \`pool\` for ${where}: it runs on the pool it is called on`,
    );
  }
  const resolved = resolveParallel<In>(work, options, where, flat);
  let { config } = resolved;
  if (spread) config = { ...config, work: { ...(config.work as WorkSpec), spread: true } };
  if (config.progress && config.total === undefined && Array.isArray(items)) {
    config = { ...config, total: items.length };
  }
  return config === resolved.config ? resolved : { ...resolved, config };
}

/** Validates the options of `pool.map` and `pool.starmap`: those of `imap`, but always in order. */
export function resolveCollect<In>(
  work: unknown,
  items: unknown,
  options: ParallelOptions<In> | undefined,
  where: string,
  spread: boolean,
): Resolved<In> {
  // For JavaScript callers: in TypeScript, `ordered: false` does not type-check here.
  if (options?.ordered === false) {
    throw new TypeError(
      `${where} returns results in input order; use pool.imap for \`ordered: false\``,
    );
  }
  return resolveIterable(work, items, options, where, spread);
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

/**
 * `createPool`'s options, checked: a custom executor alone, or the default executor's settings
 * (`size` and `abortGrace` left `undefined` when not given: the executor knows their defaults).
 */
export type ResolvedPool =
  | { readonly executor: Executor }
  | {
      readonly executor: undefined;
      readonly size: number | undefined;
      readonly runtime: 'thread' | 'process';
      readonly idleTimeout: number;
      readonly maxTasksPerWorker: number;
      readonly setup: WorkSpec | undefined;
      readonly maxHeapMb: number | undefined;
      readonly env: Record<string, string> | undefined;
      readonly abortGrace: number | undefined;
      readonly teardown: WorkSpec | undefined;
      readonly recycleMemoryMb: number | undefined;
    };

/** Validates `createPool`'s options. */
export function resolvePool(options: PoolOptions = {}): ResolvedPool {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`Expected the pool options to be an object, got ${describeValue(options)}`);
  }
  checkObject(options, 'createPool', poolKeys);
  if (options.executor !== undefined) {
    const given = defaultExecutorKeys.filter(
      (key) => (options as Record<string, unknown>)[key] !== undefined,
    );
    if (given.length > 0) {
      throw new TypeError(
        `${given.map((k) => `\`${k}\``).join(', ')} configure${given.length === 1 ? 's' : ''} the default executor: with \`executor\` given, configure your executor instead`,
      );
    }
    return { executor: checkExecutor(options.executor) };
  }
  const { maxHeapMb, recycleMemoryMb } = options;
  // `null` means the default, as `??` reads it.
  const size = options.size ?? undefined;
  const abortGrace = options.abortGrace ?? undefined;
  if (size !== undefined && !(Number.isInteger(size) && size >= 1)) {
    fail('size', 'an integer from 1 up', size);
  }
  const runtime = options.runtime ?? 'thread';
  if (runtime !== 'thread' && runtime !== 'process') {
    fail('runtime', "`'thread'` or `'process'`", runtime);
  }
  const idleTimeout = options.idleTimeout ?? Infinity;
  if (typeof idleTimeout !== 'number' || !(idleTimeout >= 0)) {
    fail('idleTimeout', 'a number of ms from 0 up, or `Infinity`', idleTimeout);
  }
  const maxTasksPerWorker = options.maxTasksPerWorker ?? Infinity;
  if (
    !(Number.isInteger(maxTasksPerWorker) && maxTasksPerWorker >= 1) &&
    maxTasksPerWorker !== Infinity
  ) {
    fail('maxTasksPerWorker', 'an integer from 1 up or `Infinity`', maxTasksPerWorker);
  }
  if (maxHeapMb !== undefined && !(Number.isInteger(maxHeapMb) && maxHeapMb >= 8)) {
    fail('maxHeapMb', 'an integer number of MB from 8 up', maxHeapMb);
  }
  const env = options.env === undefined ? undefined : checkEnv(options.env);
  if (
    abortGrace !== undefined &&
    !(typeof abortGrace === 'number' && abortGrace >= 0 && abortGrace <= MAX_TIMER_MS)
  ) {
    fail('abortGrace', 'a number of ms from 0 up to 2147483647', abortGrace);
  }
  const setup = options.setup === undefined ? undefined : toWorkSpec(options.setup, '`setup`');
  const teardown =
    options.teardown === undefined ? undefined : toWorkSpec(options.teardown, '`teardown`');
  if (
    recycleMemoryMb !== undefined &&
    !(typeof recycleMemoryMb === 'number' && recycleMemoryMb > 0 && recycleMemoryMb < Infinity)
  ) {
    fail('recycleMemoryMb', 'a number of MB above 0', recycleMemoryMb);
  }
  return {
    executor: undefined,
    size,
    runtime,
    idleTimeout,
    maxTasksPerWorker,
    setup,
    maxHeapMb,
    env,
    abortGrace,
    teardown,
    recycleMemoryMb,
  };
}

/**
 * @internal An option key of the pool's iterating methods, for `rxpool worker`: the items are
 * those of a remote batch, in these spans (`EngineConfig.origin`).
 */
export const ORIGIN: unique symbol = Symbol('rxpool.origin');

/**
 * The checks that src/options.ts makes of options with a shape of their own (an options object,
 * `retry`, `timeout`, `env`, an `executor`), and the house-style message they throw: what was
 * expected and what came, as p-map's do. Only src/options.ts calls them.
 */
import type { RetryConfig } from './engine/retry.js';
import { describeValue, fail } from './errors.js';
import type { Executor } from './executor/contract.js';
import type { Pool } from './pool/pool.js';

/** An options object (or `undefined`) whose keys are all `known`. */
export function checkObject(
  options: unknown,
  where: string,
  known: string[],
): Record<string, unknown> {
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

export function checkTimeout(timeout: unknown): number | undefined {
  if (timeout === undefined || timeout === Infinity) return undefined;
  if (typeof timeout !== 'number' || !(timeout > 0) || !Number.isFinite(timeout)) {
    fail('timeout', 'a number of ms above 0 (or `Infinity` for none)', timeout);
  }
  return timeout;
}

export function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) fail('signal', 'an AbortSignal', signal);
  return signal;
}

export function checkRetry(retry: unknown): number | RetryConfig | undefined {
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

/** The `key` option, checking what it returns (an item whose key is not one fails alone). */
export function checkedKey<In>(key: (input: In) => unknown): (input: In) => string | number {
  return (input) => {
    const value = key(input);
    if (typeof value === 'string' || typeof value === 'number') return value;
    throw new TypeError(
      `Expected \`key\` to return a string or a number, got ${describeValue(value)}`,
    );
  };
}

export function isPoolLike(value: unknown): boolean {
  return typeof value === 'object' && value !== null && typeof (value as Pool).imap === 'function';
}

/** Checks the `env` option: a plain object of strings; a copy is kept. */
export function checkEnv(env: unknown): Record<string, string> {
  if (env === null || typeof env !== 'object' || Array.isArray(env)) {
    fail('env', 'an object of strings', env);
  }
  const copy: Record<string, string> = {};
  for (const [name, value] of Object.entries(env as object)) {
    if (typeof value !== 'string') fail(`env.${name}`, 'a string', value);
    copy[name] = value;
  }
  return copy;
}

/** Checks that `executor` implements {@link Executor}, with a clear message when it does not. */
export function checkExecutor(executor: unknown): Executor {
  if (executor === null || typeof executor !== 'object') {
    fail('executor', 'an object that implements the Executor interface', executor);
  }
  const given = executor as Record<string, unknown>;
  for (const method of ['run', 'capacity', 'close', 'destroy']) {
    if (typeof given[method] !== 'function') {
      fail(`executor.${method}`, 'a function', given[method]);
    }
  }
  for (const method of ['onCapacity', 'stats']) {
    if (given[method] !== undefined && typeof given[method] !== 'function') {
      fail(`executor.${method}`, 'a function or `undefined`', given[method]);
    }
  }
  const { size, traits } = given;
  if (!(Number.isInteger(size) && (size as number) >= 1)) {
    fail('executor.size', 'an integer from 1 up', size);
  }
  if (traits === null || typeof traits !== 'object') {
    fail('executor.traits', 'an object (ExecutorTraits)', traits);
  }
  const t = traits as Record<string, unknown>;
  const { targetBatchMs } = t;
  if (!(typeof targetBatchMs === 'number' && targetBatchMs > 0 && targetBatchMs < Infinity)) {
    fail('executor.traits.targetBatchMs', 'a number of ms above 0', targetBatchMs);
  }
  for (const flag of ['enforcesTimeouts', 'knowsPosition']) {
    if (typeof t[flag] !== 'boolean') fail(`executor.traits.${flag}`, 'a boolean', t[flag]);
  }
  const { concurrency } = t;
  if (
    concurrency !== undefined &&
    !(Number.isInteger(concurrency) && (concurrency as number) >= 1) &&
    concurrency !== Infinity
  ) {
    fail(
      'executor.traits.concurrency',
      'an integer from 1 up, `Infinity` or `undefined`',
      concurrency,
    );
  }
  return executor as Executor;
}

/**
 * A failed attempt of an item: which error it is charged as, and whether it goes again. Pure: the
 * engine (`Engine.failItem`) applies the verdict to its chunk, its queue and its retry timers.
 */
import { TaskError, TaskTimeoutError, WorkerCrashedError } from '../errors.js';
import type { ItemFailure } from '../executor/contract.js';
import type { RetryPolicy } from './retry.js';

/** What every error of an item says of it. */
export interface AttemptDetails<In> {
  readonly index: number;
  readonly input: In;
  /** Attempts that ran, this one included. */
  readonly attempts: number;
  /** A flat item: its values emitted and waiting to be, which go out before its failure. */
  readonly emitted: number | undefined;
}

/**
 * The error an attempt is charged as, by its failure's kind: no failure is a run past the
 * timeout that the engine keeps (`timeout` ms). `hint` is a line added to the message.
 */
export function attemptError<In>(
  details: AttemptDetails<In>,
  failure: ItemFailure | undefined,
  timeout: number | undefined,
  hint?: string,
): TaskError<In> {
  if (failure === undefined || failure.kind === 'timeout') {
    return new TaskTimeoutError({ ...details, hint, timeout: timeout! });
  }
  if (failure.kind === 'crashed') {
    return new WorkerCrashedError({ ...details, cause: failure.error, hint });
  }
  const hints = [failure.hint, hint].filter(Boolean).join('\n') || undefined;
  return new TaskError({ ...details, cause: failure.error, hint: hints });
}

/**
 * Whether an attempt that failed with `error` goes again, by the policy, after `attempts` ran.
 * `retryable: false` (a result that cannot be cloned, a failed setup) never does: trying again
 * cannot help; nor does a flat item whose values were emitted (`emitted` > 0): they would be
 * emitted twice.
 */
export function retries(
  policy: RetryPolicy,
  error: TaskError<any>,
  attempts: number,
  failure: ItemFailure | undefined,
  emitted: number,
): boolean {
  const retryable = (failure?.retryable ?? true) && !(emitted > 0);
  return retryable && attempts <= policy.count && policy.retryIf(error, attempts);
}

/** The cause of a flat item whose worker stopped under it after some of its values were out. */
export function stoppedError(): Error {
  const error = new Error(
    'The item stopped after some of its values were emitted, and cannot run again without ' +
      'emitting them twice',
  );
  error.name = 'StoppedError';
  return error;
}

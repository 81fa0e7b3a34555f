/**
 * The errors that rxpool raises. Real classes with `name` set, so `instanceof` works.
 */

/** What every item failure carries. */
export interface TaskErrorDetails<In = unknown> {
  /** The item's 0-based position in its source (0 for `pool.run`). */
  readonly index: number;
  /** The item's input. */
  readonly input: In;
  /** How many attempts ran (1 + retries). */
  readonly attempts: number;
  /** The error thrown in the worker, rebuilt on this side. */
  readonly cause: Error;
  /** Advice to append to the message. */
  readonly hint?: string | undefined;
}

/**
 * An item failed: its task threw, or its input or result could not be cloned.
 *
 * `cause` is the error thrown in the worker, rebuilt on this side as an `Error` with the worker's
 * `name`, `message`, `stack`, `code` and other own enumerable properties.
 *
 * ## Example
 * ```ts
 * try {
 *   await pool.run((n: number) => { throw new RangeError(`bad ${n}`); }, 7);
 * } catch (error) {
 *   if (error instanceof TaskError) console.log(error.index, error.cause.name, error.cause.message);
 *   // Output: 0 RangeError bad 7
 * }
 * ```
 */
export class TaskError<In = unknown> extends Error {
  /** The item's 0-based position in its source (0 for `pool.run`). */
  readonly index: number;
  /** The item's input. */
  readonly input: In;
  /** How many attempts ran (1 + retries). */
  readonly attempts: number;
  /** The error thrown in the worker, rebuilt on this side. */
  declare readonly cause: Error;

  constructor(details: TaskErrorDetails<In>, message?: string) {
    super(message ?? TaskError.describe(details), { cause: details.cause });
    this.name = 'TaskError';
    this.index = details.index;
    this.input = details.input;
    this.attempts = details.attempts;
  }

  /** The default message: which item, how many attempts, and what the cause said. */
  static describe(details: TaskErrorDetails<unknown>, what = 'failed'): string {
    const tries = details.attempts === 1 ? '1 attempt' : `${details.attempts} attempts`;
    const base = `Item ${details.index} ${what} after ${tries}: ${details.cause.name}: ${details.cause.message}`;
    return details.hint ? `${base}\n${details.hint}` : base;
  }
}

/**
 * An attempt of an item ran past the `timeout` option. The worker running it was stopped and
 * replaced, so a runaway task really ends.
 */
export class TaskTimeoutError<In = unknown> extends TaskError<In> {
  /** The timeout that was passed, in ms. */
  readonly timeout: number;

  constructor(details: Omit<TaskErrorDetails<In>, 'cause'> & { timeout: number }) {
    const cause = new Error(`The attempt ran past the timeout of ${details.timeout} ms`);
    cause.name = 'TimeoutError';
    super({ ...details, cause }, TaskError.describe({ ...details, cause }, 'timed out'));
    this.name = 'TaskTimeoutError';
    this.timeout = details.timeout;
  }
}

/**
 * The worker died under the item: `process.exit`, out of memory (`maxHeapMb`), a fatal error.
 * It is reported as soon as the worker's death is seen, and the pool replaces the worker.
 */
export class WorkerCrashedError<In = unknown> extends TaskError<In> {
  constructor(details: TaskErrorDetails<In>) {
    super(details, TaskError.describe(details, 'lost its worker'));
    this.name = 'WorkerCrashedError';
  }
}

/** Work was stopped before it finished: `pool.destroy()`, or an `AbortSignal` fired. */
export class AbortError extends Error {
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
  }
}

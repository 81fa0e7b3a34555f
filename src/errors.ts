/**
 * The errors that rxpool raises. Real classes with `name` set, so `instanceof` works.
 */

/**
 * What every item failure carries: the fields of a {@link TaskError}, as its constructor takes them.
 *
 * _Which item failed, with what input, after how many attempts, and why._
 *
 * ## Example
 * ```ts
 * const details: TaskErrorDetails<number> = {
 *   index: 2,
 *   input: 7,
 *   attempts: 1,
 *   cause: new RangeError('bad 7'),
 * };
 * console.log(new TaskError(details).message);
 * // Output:
 * // Item 2 failed after 1 attempt: RangeError: bad 7
 * ```
 *
 * @typeParam In The type of the item's input.
 */
export interface TaskErrorDetails<In = unknown> {
  /** The item's 0-based position in its source (0 for `pool.run`). */
  readonly index: number;
  /** The item's input, as the source gave it. */
  readonly input: In;
  /** How many attempts ran: 1 + the retries. */
  readonly attempts: number;
  /** The error thrown in the worker, rebuilt on this side. */
  readonly cause: Error;
  /**
   * Advice appended to the message on a line of its own, such as what to do when an inline
   * function reads a variable it does not have in the worker.
   *
   * @default `undefined`: no advice
   */
  readonly hint?: string | undefined;
  /**
   * Flat tasks (`parallelFlatMap`, `pool.imapFlat`): how many of the item's values were emitted
   * downstream before its failure.
   *
   * @default `undefined`: not a flat task
   */
  readonly emitted?: number | undefined;
}

/**
 * An item failed: its task threw, or its input or result could not be cloned.
 *
 * _The error that a failed item gives, with the worker's own error as its `cause`._
 *
 * `parallelMap`, `pool.map` and `pool.run` fail with it; `parallelSettle` emits it as the `error`
 * of a {@link Failure}. `cause` is the error thrown in the worker, rebuilt on this side as an
 * `Error` with the worker's `name`, `message`, `stack`, `code` and other own enumerable
 * properties; a thrown non-`Error` (a string) arrives as a `cause` named `NonError` whose `value`
 * is what was thrown. {@link TaskTimeoutError} and {@link WorkerCrashedError} extend it, so
 * `instanceof TaskError` catches every item failure.
 *
 * ## Example
 * ```ts
 * try {
 *   await pool.run((n: number) => { throw new RangeError(`bad ${n}`); }, 7);
 * } catch (error) {
 *   if (error instanceof TaskError) {
 *     console.log(error.index, error.cause.name, error.cause.message);
 *     console.log(error.message);
 *   }
 * }
 * // Output:
 * // 0 RangeError bad 7
 * // Item 0 failed after 1 attempt: RangeError: bad 7
 * ```
 *
 * @typeParam In The type of the item's input.
 */
export class TaskError<In = unknown> extends Error {
  /** The item's 0-based position in its source (0 for `pool.run`). */
  readonly index: number;
  /** The item's input, as the source gave it. */
  readonly input: In;
  /** How many attempts ran: 1 + the retries. */
  readonly attempts: number;
  /**
   * Flat tasks (`parallelFlatMap`, `parallelFlatSettle`, `pool.imapFlat`), whose values come out
   * while they run: how many of the item's values were emitted downstream before this failure (an
   * attempt that emitted any is not retried). `undefined` for the other faces (an own property
   * only when set, so that the error's other faces serialize as before).
   */
  declare readonly emitted?: number;
  /**
   * The advice that ends the message ({@link TaskErrorDetails.hint}), kept apart so that it is
   * passed on without reading the message back (`rxpool worker` sends it to its producer). Not
   * enumerable, so an error's own properties serialize as they do without it.
   *
   * @default `undefined`: no advice
   */
  declare readonly hint?: string;
  /**
   * The error thrown in the worker, rebuilt on this side with the worker's `name`, `message`,
   * `stack`, `code` and other own enumerable properties.
   */
  declare readonly cause: Error;

  /**
   * Makes the error of a failed item; rxpool makes these, so you need this only to make one of
   * your own (in a test, or in a `fallback`).
   *
   * @param details Which item failed, and why.
   * @param message The message. Defaults to {@link TaskError.describe}'s.
   */
  constructor(details: TaskErrorDetails<In>, message?: string) {
    super(message ?? TaskError.describe(details), { cause: details.cause });
    this.name = 'TaskError';
    this.index = details.index;
    this.input = details.input;
    this.attempts = details.attempts;
    if (details.emitted !== undefined) {
      (this as { emitted?: number }).emitted = details.emitted;
    }
    if (details.hint) Object.defineProperty(this, 'hint', { value: details.hint });
  }

  /**
   * The default message: which item, how many attempts, and what the cause said, then the hint
   * on a line of its own.
   *
   * ## Example
   * ```ts
   * console.log(TaskError.describe({ index: 3, input: 'x', attempts: 2, cause: new Error('boom') }));
   * // Output:
   * // Item 3 failed after 2 attempts: Error: boom
   * ```
   *
   * @param details Which item failed, and why.
   * @param what What happened to the item: `'failed'`, `'timed out'`, `'lost its worker'`.
   * @returns The message.
   */
  static describe(details: TaskErrorDetails<unknown>, what = 'failed'): string {
    const tries = details.attempts === 1 ? '1 attempt' : `${details.attempts} attempts`;
    const base = `Item ${details.index} ${what} after ${tries}: ${details.cause.name}: ${details.cause.message}`;
    return details.hint ? `${base}\n${details.hint}` : base;
  }
}

/**
 * An attempt of an item ran past the `timeout` option.
 *
 * _The error of an item that took too long; its worker was stopped, so the task really ended._
 *
 * The worker running the attempt was stopped and replaced, so a runaway task (an endless loop)
 * really ends. Its `cause` is an `Error` named `TimeoutError`. With `retry`, a timed-out attempt
 * is tried again like any other failure.
 *
 * ## Example
 * ```ts
 * try {
 *   await pool.run(() => { for (;;); }, null, { timeout: 100 });
 * } catch (error) {
 *   if (error instanceof TaskTimeoutError) console.log(error.timeout, error.message);
 * }
 * // Output:
 * // 100 Item 0 timed out after 1 attempt: TimeoutError: The attempt ran past the timeout of 100 ms
 * ```
 *
 * @typeParam In The type of the item's input.
 */
export class TaskTimeoutError<In = unknown> extends TaskError<In> {
  /** The `timeout` option that the attempt ran past, in ms. */
  readonly timeout: number;

  /**
   * Made by rxpool when an attempt times out.
   *
   * @param details Which item timed out, after how many attempts, and the `timeout` in ms.
   */
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
 *
 * _The error of an item whose worker died; the item never hangs, and the pool goes on._
 *
 * It is reported as soon as the worker's death is seen, and the pool replaces the worker. Its
 * `cause` says how the worker ended: for `process.exit`, an error named `WorkerExit` with the
 * `exitCode`. With `retry`, the item is tried again on another worker.
 *
 * ## Example
 * ```ts
 * try {
 *   await pool.run(() => process.exit(3), null);
 * } catch (error) {
 *   if (error instanceof WorkerCrashedError) console.log(error.message);
 * }
 * // Output:
 * // Item 0 lost its worker after 1 attempt: WorkerExit: The worker exited with code 3 while running this item
 * ```
 *
 * @typeParam In The type of the item's input.
 */
export class WorkerCrashedError<In = unknown> extends TaskError<In> {
  /**
   * Made by rxpool when a worker dies under an item.
   *
   * @param details Which item lost its worker, and how the worker ended.
   */
  constructor(details: TaskErrorDetails<In>) {
    super(details, TaskError.describe(details, 'lost its worker'));
    this.name = 'WorkerCrashedError';
  }
}

/**
 * Work was stopped before it finished: `pool.destroy()`, or an `AbortSignal` fired.
 *
 * _The error of work that was called off, not of work that failed._
 *
 * `pool.destroy()` fails the work still pending with it, and so does a fired `signal` (of
 * `pool.run`, `pool.map`, `pool.starmap`, `pool.imap`, `pool.imapSettled`): then its `cause` is
 * the signal's `reason` (what was given to `abort(reason)`, or the `DOMException` that
 * `abort()` makes), so `instanceof AbortError` catches every abort and `cause` tells which.
 *
 * ## Example
 * ```ts
 * const pool = createPool();
 * const never = pool.run(() => new Promise(() => {}), null).catch((error) => error);
 * await pool.destroy();
 * const error = await never;
 * console.log(error.name, error instanceof AbortError);
 *
 * const controller = new AbortController();
 * const stopped = pool.run(() => new Promise(() => {}), null, { signal: controller.signal });
 * controller.abort(new Error('user left'));
 * const aborted = await stopped.catch((error) => error);
 * console.log(aborted instanceof AbortError, aborted.message, aborted.cause.message);
 * // Output:
 * // AbortError true
 * // true The operation was aborted: user left user left
 * ```
 */
export class AbortError extends Error {
  /**
   * Makes the error of stopped work.
   *
   * @param message What was stopped; `'The operation was aborted'` when not given.
   * @param options The standard `Error` options: `cause`, what stopped it.
   */
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
  }
}

/**
 * The error of work stopped by `signal`: an {@link AbortError} whose `cause` is the signal's
 * `reason`, and whose message says the reason when it is a message or an `Error` with one
 * (`AbortSignal.timeout()`'s says "The operation was aborted due to timeout" already).
 */
export function abortedBy(signal: AbortSignal): AbortError {
  const { reason } = signal;
  const said = reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : '';
  const message =
    said === '' || reason?.name === 'AbortError'
      ? 'The operation was aborted'
      : /\baborted\b/.test(said)
        ? said
        : `The operation was aborted: ${said}`;
  return new AbortError(message, { cause: reason });
}

/** `value` for an error message: `0 (number)`, `'x' (string)`, `null`. */
export function describeValue(value: unknown): string {
  if (value === null) return '`null`';
  if (value === undefined) return '`undefined`';
  if (typeof value === 'string') return `\`'${value}'\` (string)`;
  if (typeof value === 'function') return `a function (${value.name || 'anonymous'})`;
  if (typeof value === 'object') {
    const name = Object.getPrototypeOf(value)?.constructor?.name ?? 'Object';
    return `an object (${name})`;
  }
  return `\`${String(value)}\` (${typeof value})`;
}

/** Throws the house-style message: what was expected and what came. */
export function fail(name: string, expected: string, got: unknown): never {
  throw new TypeError(`Expected \`${name}\` to be ${expected}, got ${describeValue(got)}`);
}

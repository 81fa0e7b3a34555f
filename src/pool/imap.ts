/**
 * The pull face: an engine fed from an `Iterable` / `AsyncIterable` (a Node `Readable` in object
 * mode is one) and read as an `AsyncIterable`. It pulls from the input only while the engine's
 * window has room, and the engine emits only to a waiting `next()`, one result at a time, so the
 * memory it holds is bounded by the window however long the input is.
 */
import type { Clock } from '../engine/clock.js';
import { Engine } from '../engine/engine.js';
import type { SlotExecutor } from '../engine/executor.js';
import { AbortError } from '../errors.js';
import type { Resolved } from '../options.js';
import { describeValue } from './task.js';

type Input<In> = Iterable<In> | AsyncIterable<In>;

/**
 * How long a sync input is read at a time, in ms, before the event loop gets a turn: results
 * come back and go out while the window fills, instead of after the whole window was read.
 */
const READ_SLICE_MS = 1;

/**
 * `settled`: yield every item as a `Settled` value (`pool.imapSettled`) instead of the values
 * alone, where the first failure ends the iteration (`pool.imap`).
 */
export function engineIterable<In, Out, R = Out>(
  items: Input<In>,
  resolved: Resolved<In>,
  executor: () => SlotExecutor,
  clock: Clock,
  settled = false,
): AsyncIterableIterator<R> {
  if (
    items == null ||
    (typeof (items as any)[Symbol.asyncIterator] !== 'function' &&
      typeof (items as any)[Symbol.iterator] !== 'function')
  ) {
    throw new TypeError(
      `Expected \`items\` to be an Iterable or an AsyncIterable, got ${describeValue(items)}`,
    );
  }
  let engine: Engine<In, Out> | undefined;
  let source: Iterator<In> | AsyncIterator<In> | undefined;
  let isAsync = false;
  /** A read is under way: an async `next()`, or the next slice of a sync input is scheduled. */
  let reading = false;
  let nextSlice: ReturnType<typeof setImmediate> | undefined;
  /** Completed, failed or returned: nothing more comes but `failure`, once. */
  let done = false;
  let failure: { error: unknown } | undefined;
  /**
   * The `next()` that waits. The engine emits only while one waits (it is paused otherwise), so a
   * result is held in the engine's window until the loop asks for it, never in a hand-off here.
   */
  let waiter: { resolve: (r: IteratorResult<R>) => void; reject: (e: unknown) => void } | undefined;
  const { signal } = resolved;

  /** Closes the input; resolves once an async input's own cleanup (`finally`) has run. */
  const closeSource = (): Promise<void> => {
    const it = source;
    source = undefined;
    if (nextSlice !== undefined) clearImmediate(nextSlice);
    nextSlice = undefined;
    if (!it?.return) return Promise.resolve();
    try {
      return Promise.resolve(it.return()).then(
        () => {},
        () => {},
      );
    } catch {
      // the input's own cleanup failed; nothing to report to
      return Promise.resolve();
    }
  };

  /** Hands a value to the waiting `next()`; the engine holds the next ones until it is called again. */
  const give = (value: R) => {
    engine!.pause();
    const w = waiter!;
    waiter = undefined;
    w.resolve({ value, done: false });
  };

  /** Answers the waiting `next()` once the iteration is over. */
  const settle = () => {
    if (!waiter || !done) return;
    const w = waiter;
    waiter = undefined;
    if (failure) {
      const { error } = failure;
      failure = undefined;
      w.reject(error);
    } else {
      w.resolve({ value: undefined, done: true });
    }
  };

  const stop = (error: unknown) => {
    if (done) return;
    done = true;
    failure = { error };
    engine?.cancel();
    closeSource();
    signal?.removeEventListener('abort', onAbort);
    settle();
  };

  const onAbort = () => stop(signal!.reason ?? new AbortError());

  /** The input failed: what it gave before still comes out, then its error (`Engine.fail`). */
  const sourceFailed = (error: unknown) => {
    source = undefined;
    engine!.fail(error);
  };

  const pull = () => {
    if (reading || !source || !engine) return;
    reading = true;
    if (isAsync) {
      (source as AsyncIterator<In>).next().then(
        (next) => {
          reading = false;
          if (!source || !engine) return;
          if (next.done) {
            source = undefined;
            engine.end();
          } else {
            engine.push(next.value);
          }
        },
        (error) => {
          reading = false;
          if (source) sourceFailed(error);
        },
      );
      return;
    }
    // A sync input is read in slices of about READ_SLICE_MS, the event loop running between
    // them: results come back while the window is still filling, and a `break` is seen.
    let count = 0;
    let since: number | undefined;
    while (source && engine.room > 0) {
      if ((++count & 15) === 0) {
        const now = clock.now();
        since ??= now;
        if (now - since >= READ_SLICE_MS) {
          nextSlice = setImmediate(() => {
            nextSlice = undefined;
            reading = false;
            pull();
          });
          return;
        }
      }
      let next: IteratorResult<In>;
      try {
        next = (source as Iterator<In>).next();
      } catch (error) {
        sourceFailed(error);
        break;
      }
      if (next.done) {
        source = undefined;
        engine.end();
      } else {
        engine.push(next.value);
      }
    }
    reading = false;
  };

  const start = () => {
    if (signal?.aborted) {
      done = true;
      failure = { error: signal.reason ?? new AbortError() };
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    isAsync = typeof (items as any)[Symbol.asyncIterator] === 'function';
    try {
      source = isAsync
        ? (items as AsyncIterable<In>)[Symbol.asyncIterator]()
        : (items as Iterable<In>)[Symbol.iterator]();
      engine = new Engine<In, Out>(resolved.config, executor(), clock, {
        value: (value, index, input) =>
          give((settled ? { ok: true, index, input, value } : value) as R),
        failure: (error) => {
          if (settled) give({ ok: false, index: error.index, input: error.input, error } as R);
          else stop(error);
        },
        error: (error) => stop(error),
        complete: () => {
          done = true;
          signal?.removeEventListener('abort', onAbort);
          settle();
        },
        pull,
      });
    } catch (error) {
      stop(error);
      return;
    }
    // Results are emitted only to a waiting `next()`.
    engine.pause();
    pull();
  };

  const iterator: AsyncIterableIterator<R> = {
    [Symbol.asyncIterator]() {
      return iterator;
    },
    next() {
      if (!engine && !done) start();
      return new Promise<IteratorResult<R>>((resolve, reject) => {
        if (waiter) {
          reject(new Error('imap: next() was called again before the previous call settled'));
          return;
        }
        waiter = { resolve, reject };
        if (done) settle();
        else engine!.resume();
      });
    },
    async return(value?: unknown) {
      failure = undefined;
      if (!done) {
        done = true;
        engine?.cancel();
        signal?.removeEventListener('abort', onAbort);
        await closeSource();
      }
      return { value: value as R, done: true };
    },
  };
  return iterator;
}

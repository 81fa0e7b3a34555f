/**
 * The pull face: an engine fed from an `Iterable` / `AsyncIterable` (a Node `Readable` in object
 * mode is one) and read as an `AsyncIterable`. It pulls from the input only while the engine's
 * window has room, and the engine emits only to a waiting `next()`, one result at a time, so the
 * memory it holds is bounded by the window however long the input is.
 */
import type { Clock } from '../engine/clock.js';
import { Engine } from '../engine/engine.js';
import { abortedBy, describeValue } from '../errors.js';
import type { Dispatcher } from '../executor/dispatcher.js';
import type { Resolved } from '../options.js';
import { InputReader } from './input.js';

type Input<In> = Iterable<In> | AsyncIterable<In>;

/**
 * `settled`: yield every item as a `Settled` value (`pool.imapSettled`) instead of the values
 * alone, where the first failure ends the iteration (`pool.imap`).
 */
export function engineIterable<In, Out, R = Out>(
  items: Input<In>,
  resolved: Resolved<In>,
  dispatcher: () => Dispatcher,
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
  let reader: InputReader<In> | undefined;
  /** Completed, failed or returned: nothing more comes but `failure`, once. */
  let done = false;
  let failure: { error: unknown } | undefined;
  /**
   * The `next()` that waits. The engine emits only while one waits (it is paused otherwise), so a
   * result is held in the engine's window until the loop asks for it, never in a hand-off here.
   */
  let waiter: { resolve: (r: IteratorResult<R>) => void; reject: (e: unknown) => void } | undefined;
  const { signal } = resolved;

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
    reader?.close();
    signal?.removeEventListener('abort', onAbort);
    settle();
  };

  const onAbort = () => stop(abortedBy(signal!));

  const start = () => {
    if (signal?.aborted) {
      done = true;
      failure = { error: abortedBy(signal) };
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      reader = new InputReader(items, clock);
      engine = new Engine<In, Out>(resolved.config, dispatcher(), clock, {
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
        pull: () => reader!.read(engine!),
      });
    } catch (error) {
      stop(error);
      return;
    }
    // Results are emitted only to a waiting `next()`.
    engine.pause();
    reader.read(engine);
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
        await reader?.close();
      }
      return { value: value as R, done: true };
    },
  };
  return iterator;
}

/**
 * The pull face: an engine fed from an `Iterable` / `AsyncIterable` (a Node `Readable` in object
 * mode is one) and read as an `AsyncIterable`. It pulls from the input only while the engine's
 * window has room, and emits one result at a time to the consumer, so the memory it holds is
 * bounded however long the input is.
 */
import type { Clock } from '../engine/clock.js';
import { Engine } from '../engine/engine.js';
import type { SlotExecutor } from '../engine/executor.js';
import { abortedBy } from '../errors.js';
import type { Resolved } from '../options.js';
import { describeValue } from './task.js';

type Input<In> = Iterable<In> | AsyncIterable<In>;

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
  let pulling = false;
  let finished = false;
  let failure: { error: unknown } | undefined;
  const ready: R[] = [];
  let waiter: { resolve: (r: IteratorResult<R>) => void; reject: (e: unknown) => void } | undefined;
  const { signal } = resolved;

  /** Closes the input; resolves once an async input's own cleanup (`finally`) has run. */
  const closeSource = (): Promise<void> => {
    const it = source;
    source = undefined;
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

  const settle = () => {
    if (!waiter) return;
    const w = waiter;
    if (ready.length > 0) {
      waiter = undefined;
      const value = ready.shift()!;
      if (ready.length === 0) engine?.resume();
      w.resolve({ value, done: false });
    } else if (failure) {
      waiter = undefined;
      const { error } = failure;
      failure = undefined;
      finished = true;
      w.reject(error);
    } else if (finished) {
      waiter = undefined;
      w.resolve({ value: undefined, done: true });
    }
  };

  const stop = (error: unknown) => {
    if (finished || failure) return;
    failure = { error };
    engine?.cancel();
    closeSource();
    signal?.removeEventListener('abort', onAbort);
    settle();
  };

  const onAbort = () => stop(abortedBy(signal!));

  const pull = () => {
    if (pulling || !source || !engine) return;
    pulling = true;
    if (!isAsync) {
      try {
        while (source && engine.room > 0) {
          const next = (source as Iterator<In>).next();
          if (next.done) {
            source = undefined;
            engine.end();
          } else {
            engine.push(next.value);
          }
        }
      } catch (error) {
        stop(error);
      }
      pulling = false;
      return;
    }
    (source as AsyncIterator<In>).next().then(
      (next) => {
        pulling = false;
        if (!source || !engine) return;
        if (next.done) {
          source = undefined;
          engine.end();
        } else {
          engine.push(next.value);
        }
      },
      (error) => {
        pulling = false;
        stop(error);
      },
    );
  };

  const start = () => {
    if (signal?.aborted) {
      failure = { error: abortedBy(signal) };
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    isAsync = typeof (items as any)[Symbol.asyncIterator] === 'function';
    try {
      source = isAsync
        ? (items as AsyncIterable<In>)[Symbol.asyncIterator]()
        : (items as Iterable<In>)[Symbol.iterator]();
      engine = new Engine<In, Out>(resolved.config, executor(), clock, {
        value: (value, index, input) => {
          ready.push((settled ? { ok: true, index, input, value } : value) as R);
          engine!.pause();
          settle();
        },
        failure: (error) => {
          if (!settled) {
            stop(error);
            return;
          }
          ready.push({ ok: false, index: error.index, input: error.input, error } as R);
          engine!.pause();
          settle();
        },
        error: (error) => stop(error),
        complete: () => {
          finished = true;
          signal?.removeEventListener('abort', onAbort);
          settle();
        },
        pull,
      });
    } catch (error) {
      stop(error);
      return;
    }
    pull();
  };

  const iterator: AsyncIterableIterator<R> = {
    [Symbol.asyncIterator]() {
      return iterator;
    },
    next() {
      if (!engine && !failure && !finished) start();
      return new Promise<IteratorResult<R>>((resolve, reject) => {
        if (waiter) {
          reject(new Error('imap: next() was called again before the previous call settled'));
          return;
        }
        waiter = { resolve, reject };
        settle();
      });
    },
    async return(value?: unknown) {
      if (!finished && !failure) {
        finished = true;
        engine?.cancel();
        signal?.removeEventListener('abort', onAbort);
        await closeSource();
      }
      ready.length = 0;
      return { value: value as R, done: true };
    },
  };
  return iterator;
}

/**
 * The promise faces: one item (`pool.run`) and every result of an input in one array (`pool.map`,
 * `pool.starmap`). One runs an engine of its own with a window of one; the other reads the pull
 * face (imap.ts) to its end.
 */
import { type Clock, realClock } from '../engine/clock.js';
import { Engine } from '../engine/engine.js';
import { abortedBy } from '../errors.js';
import type { Dispatcher } from '../executor/dispatcher.js';
import type { Resolved } from '../options.js';
import { engineIterable } from './imap.js';

/** Runs one item; rejects with its `TaskError`, or an `AbortError` when the signal fires. */
export function runOne<In, Out>(
  resolved: Resolved<In>,
  input: In,
  dispatcher: Dispatcher,
  clock: Clock = realClock,
): Promise<Out> {
  return new Promise((resolve, reject) => {
    const { signal } = resolved;
    if (signal?.aborted) {
      reject(abortedBy(signal));
      return;
    }
    let result: Out;
    const onAbort = () => {
      engine.cancel();
      reject(abortedBy(signal!));
    };
    const engine = new Engine<In, Out>(resolved.config, dispatcher, clock, {
      value: (value) => {
        result = value;
      },
      failure: reject,
      error: reject,
      complete: () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(result);
      },
    });
    signal?.addEventListener('abort', onAbort, { once: true });
    engine.push(input);
    engine.end();
  });
}

/** Every result of `items`, in input order; rejects with the first failure. */
export async function collect<In, Out>(
  items: Iterable<In> | AsyncIterable<In>,
  resolved: Resolved<In>,
  dispatcher: () => Dispatcher,
  clock: Clock = realClock,
): Promise<Out[]> {
  const results: Out[] = [];
  for await (const value of engineIterable<In, Out>(items, resolved, dispatcher, clock)) {
    results.push(value);
  }
  return results;
}

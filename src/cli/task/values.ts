/**
 * A task's result that stands for many values (an iterator, an async iterable, an array with
 * `--flat`), taken whole in the worker: every value is stringified before anything of its line is
 * written, so that a line's values are written all or none. Shared by the line and block modes of
 * `rxpool map`'s task (./json-lines.ts, ./json-blocks.ts).
 */

/**
 * The values of a result that stands for many: an iterator (what a generator function returns,
 * `map.values()`), an async iterable (what an async generator function returns), or, with
 * `flat`, an array. `undefined`: the result is one value (a string, a plain object, a `Map`...).
 */
export function valuesOf(
  value: unknown,
  flat: boolean,
): Iterator<unknown> | AsyncIterator<unknown> | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) return flat ? value[Symbol.iterator]() : undefined;
  const v = value as {
    next?: unknown;
    [Symbol.iterator]?: unknown;
    [Symbol.asyncIterator]?: unknown;
  };
  if (typeof v[Symbol.asyncIterator] === 'function') {
    return (v as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  }
  if (typeof v[Symbol.iterator] === 'function' && typeof v.next === 'function') {
    return (v as Iterable<unknown>)[Symbol.iterator]();
  }
  return undefined;
}

/**
 * Takes every value of `values` and gives each one's JSON text to `add` (`undefined` as `null`).
 * Returns `undefined` when all were taken, or why one cannot be written (the iteration stops
 * there and the iterator is closed, so its `finally` blocks run); a promise of that for an async
 * iterator. What the iterator throws is thrown (or rejected).
 */
export function takeValues(
  values: Iterator<unknown> | AsyncIterator<unknown>,
  add: (text: string) => void,
): string | undefined | Promise<string | undefined> {
  for (;;) {
    const step = values.next();
    if (isThenable(step)) return takeAsync(values as AsyncIterator<unknown>, step, add);
    const { done, value } = step as IteratorResult<unknown>;
    if (done) return undefined;
    const problem = addValue(value, add);
    if (problem !== undefined) {
      values.return?.();
      return problem;
    }
  }
}

async function takeAsync(
  values: AsyncIterator<unknown>,
  first: Promise<IteratorResult<unknown>>,
  add: (text: string) => void,
): Promise<string | undefined> {
  let step = first;
  for (;;) {
    const { done, value } = await step;
    if (done) return undefined;
    const problem = addValue(value, add);
    if (problem !== undefined) {
      await values.return?.();
      return problem;
    }
    step = values.next();
  }
}

/** Adds one value's JSON text; returns why it cannot be written, if it cannot. */
function addValue(value: unknown, add: (text: string) => void): string | undefined {
  if (value === undefined) value = null;
  if (typeof value === 'function' || typeof value === 'symbol') {
    return `a value is a ${typeof value}, which JSON cannot hold`;
  }
  try {
    add(JSON.stringify(value));
  } catch (error) {
    return (error as Error).message;
  }
  return undefined;
}

/** A promise, or anything with a `then` method (what `await` would wait for). */
export function isThenable(value: unknown): value is PromiseLike<any> {
  return value !== null && typeof value === 'object' && typeof (value as any).then === 'function';
}

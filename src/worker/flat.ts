/**
 * Flat items in the worker: a task that returns many values (an array, a sync or async iterable, an
 * Observable) has them pulled one by one, gathered for a few ms or up to a count, and posted to the
 * main side while it runs, under credit: the item may have sent at most `highWaterMark` values
 * more than the main side has granted back, and is not pulled while it has none. A stop (the
 * stream was cancelled) calls the iterator's `return()`, so a generator's `finally` blocks run
 * here. The host glue (host.ts) gives each flat batch its {@link FlatGate} and a way to post.
 */
import type { WireError } from '../wire/messages.js';
import { type FlatPost, Gathered } from './flat-out.js';

export { FLAT_FLUSH_MS, FLAT_MAX_VALUES, type FlatPost, flushEnded } from './flat-out.js';

/**
 * The credit of the item running in a flat batch, and its stop: what the main side's messages
 * change, and what the item waits on when it has no credit.
 */
export class FlatGate {
  /** Values the item at `position` may still send. */
  credit: number;
  position = 0;
  stopped = false;
  private wake: (() => void) | undefined;

  constructor(
    readonly key: number,
    public highWaterMark: number,
  ) {
    this.credit = highWaterMark;
  }

  /** The next item of the batch starts with a fresh credit. */
  next(position: number): void {
    this.position = position;
    this.credit = this.highWaterMark;
  }

  grant(position: number, count: number): void {
    // A grant for an item that ended already is late: its credit went with it.
    if (position !== this.position) return;
    this.credit += count;
    this.wake?.();
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  /** Resolves at the next grant or stop. */
  waitForCredit(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = () => {
        this.wake = undefined;
        resolve();
      };
    });
  }
}

/** What an item's values are read through, whatever the work returned. */
interface Pull {
  readonly sync: boolean;
  next(): IteratorResult<unknown> | Promise<IteratorResult<unknown>>;
  /** Stops the source early (a generator's `finally` blocks run). */
  stop(): unknown;
}

/**
 * Streams the values of what an item's work returned (`result`, awaited if it is a promise), and
 * then its end. Returns the item's failure, if it failed: what it threw (`thrown`: the call itself
 * threw), or a value that cannot travel. Values pulled before a failure are posted before it. A
 * stopped item posts no end.
 */
export async function streamItem(
  result: unknown,
  thrown: WireError | undefined,
  position: number,
  gate: FlatGate,
  post: FlatPost,
  shares: boolean,
  fail: (error: unknown) => WireError,
): Promise<WireError | undefined> {
  gate.next(position);
  const out = new Gathered(gate.key, position, post, shares);
  if (thrown !== undefined) {
    out.flush({ failure: thrown });
    return thrown;
  }
  let pull: Pull | undefined;
  let ended = false;
  try {
    if (isThenable(result)) result = await result;
    pull = pullFrom(result);
    for (;;) {
      if (gate.stopped) break;
      if (gate.credit <= 0) {
        out.flush();
        await gate.waitForCredit();
        continue;
      }
      let step = pull.next();
      if (!pull.sync) {
        out.flushLater();
        step = await step;
      }
      const { done, value } = step as IteratorResult<unknown>;
      if (done) {
        ended = true;
        break;
      }
      gate.credit--;
      out.add(value);
      if (out.due) {
        out.flush();
        if (out.failed) return out.failed;
        // Lets the main side's grants and stop come in (a sync source never waits otherwise).
        await new Promise(setImmediate);
      }
      if (out.failed) return out.failed;
    }
    if (gate.stopped) {
      out.flush();
    } else {
      out.flush({ failure: undefined });
    }
    return out.failed;
  } catch (error) {
    ended = true;
    const failure = fail(error);
    out.flush({ failure });
    return out.failed ?? failure;
  } finally {
    if (!ended && pull) {
      try {
        await pull.stop();
      } catch {
        // The stream was cancelled: what its cleanup throws goes nowhere.
      }
    }
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** Reads what the work returned, as RxJS's `from()` would. */
function pullFrom(result: unknown): Pull {
  if (result != null) {
    const source = result as Record<symbol | string, any>;
    if (typeof source[Symbol.asyncIterator] === 'function') {
      const it = source[Symbol.asyncIterator]() as AsyncIterator<unknown>;
      return { sync: false, next: () => it.next(), stop: () => it.return?.() };
    }
    if (typeof source[Symbol.iterator] === 'function') {
      const it = source[Symbol.iterator]() as Iterator<unknown>;
      return { sync: true, next: () => it.next(), stop: () => it.return?.() };
    }
    if (typeof source.subscribe === 'function') {
      return fromObservable(source as { subscribe: (observer: object) => unknown });
    }
  }
  throw new TypeError(
    `The task returned ${describe(result)}, not an array, an iterable, an async iterable or an ` +
      'Observable: a flat task (parallelFlatMap, pool.imapFlat) returns the values of its item',
  );
}

/**
 * An Observable cannot be paused: its values wait here, in arrival order, until credit lets them
 * go. Stopping it unsubscribes.
 */
function fromObservable(source: { subscribe: (observer: object) => unknown }): Pull {
  const queue: IteratorResult<unknown>[] = [];
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  const subscription = source.subscribe({
    next: (value: unknown) => {
      queue.push({ done: false, value });
      wake?.();
    },
    error: (error: unknown) => {
      failure = { error };
      wake?.();
    },
    complete: () => {
      queue.push({ done: true, value: undefined });
      wake?.();
    },
  }) as { unsubscribe?: () => void } | undefined;
  let head = 0;
  const next = async (): Promise<IteratorResult<unknown>> => {
    while (head === queue.length && failure === undefined) {
      await new Promise<void>((resolve) => {
        wake = () => {
          wake = undefined;
          resolve();
        };
      });
    }
    if (head < queue.length) {
      const step = queue[head]!;
      queue[head++] = undefined as never;
      if (head > 1024 && head * 2 > queue.length) {
        queue.splice(0, head);
        head = 0;
      }
      return step;
    }
    throw failure!.error;
  };
  return { sync: false, next, stop: () => subscription?.unsubscribe?.() };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return `an object (${Object.prototype.toString.call(value)})`;
  return `${typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`}`;
}

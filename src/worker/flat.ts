/**
 * Flat items in the worker: a task that returns many values (an array, a sync or async iterable, an
 * Observable) has them pulled one by one, gathered for a few ms or up to a count, and posted to the
 * main side while it runs, under credit: the item may have sent at most `highWaterMark` values
 * more than the main side has granted back, and is not pulled while it has none. A stop (the
 * stream was cancelled) calls the iterator's `return()`, so a generator's `finally` blocks run
 * here. The host glue (host.ts) gives each flat batch its {@link FlatGate} and a way to post.
 */
import { performance } from 'node:perf_hooks';
import { findUncloneable } from '../pool/clone.js';
import { type FlatPayload, ValuePacker } from '../pool/flat-pack.js';
import { type FlatPart, type FlatValues, MOVE_BRAND, type WireError } from '../pool/messages.js';
import type { TransferListItem } from '../types.js';
import { cloneFailure } from './wire-error.js';

/** Most values in one message. */
export const FLAT_MAX_VALUES = 1024;
/** Values wait at most this long (ms) in the worker before they are posted. */
export const FLAT_FLUSH_MS = 3;

/** How values of a flat batch leave the worker. */
export type FlatPost = (message: FlatValues, transferList: TransferListItem[] | undefined) => void;

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

/** Packs the values of the item that runs (one at a time in a worker) as they are gathered. */
const packer = new ValuePacker();

/**
 * Items that ended with their last values packed, not posted yet: they go with the next message
 * of their batch (as its `before`), or alone once they hold `FLAT_MAX_VALUES` values or the first
 * of them waited `FLAT_FLUSH_MS`, and always before the batch's reply ({@link flushEnded}). A
 * message costs the worker as much as hundreds of small values, and an item of a few hundred
 * values would otherwise cost one. (Packed values cannot fail to post: no culprit to look for.)
 */
class Ended {
  parts: FlatPart[] = [];
  /** Values in `parts`. */
  count = 0;
  /** When the first value of the first part was gathered. */
  since = 0;
  transferList: TransferListItem[] | undefined;
  private key = 0;
  post: FlatPost | undefined;

  /** Holds an ended item's part (`count` values since `since`), whose `buffer` may move. */
  add(
    key: number,
    post: FlatPost,
    part: FlatPart,
    count: number,
    since: number,
    buffer: ArrayBuffer | undefined,
  ): void {
    if (this.parts.length > 0 && key !== this.key) this.flush();
    if (this.parts.length === 0) {
      this.since = since;
      this.key = key;
      this.post = post;
    }
    this.parts.push(part);
    this.count += count;
    if (buffer !== undefined) {
      this.transferList ??= [];
      this.transferList.push(buffer);
    }
  }

  /** The parts, for a message of batch `key`; they are no longer held. */
  take(key: number): {
    before: FlatPart[] | undefined;
    transferList: TransferListItem[] | undefined;
  } {
    if (this.parts.length > 0 && key !== this.key) this.flush();
    const { parts, transferList } = this;
    this.clear();
    return { before: parts.length > 0 ? parts : undefined, transferList };
  }

  /** Posts the parts alone. */
  flush(): void {
    if (this.parts.length === 0) return;
    const { parts, transferList, key, post } = this;
    this.clear();
    post!({ flatKey: key, ...parts[parts.length - 1]!, before: parts.slice(0, -1) }, transferList);
  }

  private clear(): void {
    this.parts = [];
    this.count = 0;
    this.transferList = undefined;
  }
}

const ended = new Ended();

/** Posts the items that ended and wait (see {@link Ended}): the batch is about to answer. */
export function flushEnded(): void {
  ended.flush();
}

/**
 * The values gathered and not yet posted. Numbers, and records of numbers with the same keys,
 * travel packed in a typed array (src/pool/flat-pack.ts: the check is made as each value is
 * gathered, and spares the main side the reading of a structured clone); other values travel by
 * structured clone, unchecked. When posting throws, the value at fault is looked for then: the
 * values before it go, and the item fails with why.
 */
class Gathered {
  values: unknown[] = [];
  transferList: TransferListItem[] | undefined;
  since = 0;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** A value could not be posted: the item failed with this (its end was posted with it). */
  failed: WireError | undefined;

  constructor(
    private readonly key: number,
    private readonly position: number,
    private readonly post: FlatPost,
    private readonly movesBuffers: boolean,
  ) {
    packer.reset();
  }

  /** Keeps a value for the trip (its `move()` list joins the message's). */
  add(value: unknown): void {
    if (value !== null && typeof value === 'object' && MOVE_BRAND in value) {
      const list = (value as Record<symbol, TransferListItem[]>)[MOVE_BRAND]!;
      delete (value as Record<symbol, unknown>)[MOVE_BRAND];
      if (this.movesBuffers) {
        this.transferList ??= [];
        this.transferList.push(...list);
      }
      packer.plain();
    } else {
      packer.add(value);
    }
    if (this.values.length === 0) this.since = ended.count > 0 ? ended.since : performance.now();
    this.values.push(value);
  }

  /** Whether the values should go now: enough of them, or the first waited long enough. */
  get due(): boolean {
    const n = this.values.length;
    return (
      n + ended.count >= FLAT_MAX_VALUES ||
      (n > 0 && performance.now() - this.since >= FLAT_FLUSH_MS)
    );
  }

  /** Posts what was gathered; with `end`, also that the item is over (how, if it failed). */
  flush(end?: { failure: WireError | undefined }): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const { values } = this;
    if ((values.length === 0 && end === undefined) || this.failed) {
      // Nothing of this item to post (it waits for credit, or was stopped): the ended go.
      ended.flush();
      return;
    }
    this.values = [];
    const packed = packer.take();
    if (packed !== undefined && end !== undefined && end.failure === undefined) {
      // The item ended with its last values packed: they wait for the next message.
      const { buffer } = ArrayBuffer.isView(packed) ? packed : packed.cells;
      const part = this.message(packed, end);
      ended.add(
        this.key,
        this.post,
        part,
        values.length,
        this.since,
        this.movesBuffers ? buffer : undefined,
      );
      if (ended.count >= FLAT_MAX_VALUES || performance.now() - ended.since >= FLAT_FLUSH_MS) {
        ended.flush();
      }
      return;
    }
    const { before, transferList: endedList } = ended.take(this.key);
    let transferList = this.transferList;
    this.transferList = undefined;
    if (packed !== undefined && this.movesBuffers) {
      transferList ??= [];
      transferList.push((ArrayBuffer.isView(packed) ? packed : packed.cells).buffer);
    }
    try {
      const message = this.message(packed ?? values, end);
      this.post(
        before ? { ...message, before } : message,
        endedList && transferList ? [...endedList, ...transferList] : (endedList ?? transferList),
      );
    } catch (error) {
      // The ended items' packed values go first, alone (a failed post moved nothing).
      if (before) {
        this.post(
          { ...before[before.length - 1]!, flatKey: this.key, before: before.slice(0, -1) },
          endedList,
        );
      }
      // Its buffers did not move: the values before the one at fault go again, copied.
      const { at, failure } = culprit(values, error, this.movesBuffers);
      this.failed = failure;
      try {
        this.post(this.message(values.slice(0, at), { failure }), undefined);
      } catch {
        // Those could not go either (a getter that throws only when copied): the end alone goes.
        this.post(this.message([], { failure }), undefined);
      }
    }
  }

  private message(values: FlatPayload, end: { failure: WireError | undefined } | undefined) {
    const message: FlatValues = { flatKey: this.key, position: this.position, values };
    if (end === undefined) return message;
    return end.failure === undefined
      ? { ...message, end: true as const }
      : { ...message, end: true as const, failure: end.failure };
  }

  /** An async source may wait long for its next value: what was gathered goes after a few ms. */
  flushLater(): void {
    if (this.timer !== undefined || (this.values.length === 0 && ended.count === 0)) return;
    const since = this.values.length > 0 ? this.since : ended.since;
    const wait = Math.max(0, FLAT_FLUSH_MS - (performance.now() - since));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, wait);
  }
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

/**
 * Why posting `values` threw: the first value that cannot be cloned (or whose reading throws),
 * and its position; when none is found, the position after them all and what posting threw.
 */
function culprit(
  values: unknown[],
  thrown: unknown,
  shared: boolean,
): { at: number; failure: WireError } {
  for (let at = 0; at < values.length; at++) {
    let problem: string | undefined;
    try {
      // A child process's channel copies a SharedArrayBuffer no more than a function.
      problem = findUncloneable(values[at], 'a value', { shared });
    } catch (error) {
      problem = `a value cannot be read: ${error instanceof Error ? error.message : String(error)}`;
    }
    if (problem) return { at, failure: cloneFailure(problem) };
  }
  const message = thrown instanceof Error ? thrown.message : String(thrown);
  return { at: 0, failure: cloneFailure(`the values cannot be sent: ${message}`) };
}

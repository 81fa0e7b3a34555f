/**
 * The way out of the worker for a flat item's values: gathered for a few ms or up to a count
 * ({@link Gathered}), packed in a typed array when they are numbers or records of numbers
 * (src/wire/flat-pack.ts), and posted; an item that ended with packed values waits for the batch's
 * next message ({@link Ended}). When posting throws, the value at fault is looked for then
 * ({@link culprit}). The pulling side is ./flat.ts.
 */
import { performance } from 'node:perf_hooks';
import type { TransferListItem } from '../types.js';
import { findUncloneable } from '../wire/clone.js';
import { cloneFailure } from '../wire/error.js';
import { type FlatPayload, ValuePacker } from '../wire/flat-pack.js';
import { type FlatPart, type FlatValues, MOVE_BRAND, type WireError } from '../wire/messages.js';

/** Most values in one message. */
export const FLAT_MAX_VALUES = 1024;
/** Values wait at most this long (ms) in the worker before they are posted. */
export const FLAT_FLUSH_MS = 3;

/** How values of a flat batch leave the worker. */
export type FlatPost = (message: FlatValues, transferList: TransferListItem[] | undefined) => void;

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
    post!(alone(key, parts), transferList);
  }

  private clear(): void {
    this.parts = [];
    this.count = 0;
    this.transferList = undefined;
  }
}

const ended = new Ended();

/** Ended items' parts as one message of batch `key`: the last part, the others `before` it. */
function alone(key: number, parts: FlatPart[]): FlatValues {
  return { ...parts[parts.length - 1]!, flatKey: key, before: parts.slice(0, -1) };
}

/** Posts the items that ended and wait (see {@link Ended}): the batch is about to answer. */
export function flushEnded(): void {
  ended.flush();
}

/**
 * The values gathered and not yet posted. Numbers, and records of numbers with the same keys,
 * travel packed in a typed array (src/wire/flat-pack.ts: the check is made as each value is
 * gathered, and spares the main side the reading of a structured clone); other values travel by
 * structured clone, unchecked. When posting throws, the value at fault is looked for then: the
 * values before it go, and the item fails with why.
 */
export class Gathered {
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
        this.post(alone(this.key, before), endedList);
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

/**
 * The engine's record of items: a {@link Chunk} is a run of consecutive items of the source that
 * move together, a {@link Batch} the chunks sent to the executor in one go. The engine keeps no
 * record per item, only per chunk: a trivial item costs a push into an array on the way in and a
 * read from its batch's results on the way out.
 */

import type { TaskError } from '../errors.js';
import type { ItemSpan, RunningBatch } from '../executor/contract.js';
import type { ItemTrace } from '../executor/item-channel.js';
import type { FlatItem } from './flat.js';

/** In the queue, waiting for a batch. */
export const QUEUED = 0;
/** Out in a running batch. */
export const RUNNING = 1;
/** Waiting for a retry's delay, or for its key's turn (`key`). */
export const WAITING = 2;
/** Every item succeeded. */
export const DONE = 3;
/** Its one item failed for good. */
export const FAILED = 4;

/**
 * A run of consecutive items of the source that move together: pushed into the same page and
 * admitted one after another, sent in the same batch, finished together. Items part ways by
 * splitting their chunk ({@link Chunk.cut}): a batch takes the first part of one, a failed item
 * leaves its batch-mates, a crash sends them back one by one.
 */
export class Chunk<In> {
  state = QUEUED;
  /**
   * The most items of a batch it may go in. A batch that crashed its worker with the culprit
   * unknown goes back as halves (each batch-mate uncharged; a half that crashes again is halved
   * again), so the culprit is found in about log2(n) rounds, not n batches of one (a remote batch
   * may hold tens of thousands of items); an item that crashed its worker goes alone (1).
   */
  cap = Number.POSITIVE_INFINITY;
  /** DONE: the value of item k is `values[at + k]`. */
  values: ArrayLike<unknown> | undefined = undefined;
  at = 0;
  /** FAILED: the `TaskError` of its one item. */
  error: TaskError<In> | undefined = undefined;
  /** Items emitted so far. */
  emitted = 0;
  /** The next chunk in source order (ordered mode). */
  next: Chunk<In> | undefined = undefined;
  /** A flat stream's item (a chunk of one): its values that came, and its credit. */
  flat: FlatItem | undefined = undefined;

  constructor(
    /** The source index of its first item. */
    readonly first: number,
    /** Its items are `inputs[lo..hi)`; chunks split from one another share the array. */
    readonly inputs: In[],
    readonly lo: number,
    public hi: number,
    /** Attempts so far, the same for each of its items (they were always sent together). */
    public attempts: number,
    /** When it joined the queue. */
    public queuedAt: number,
  ) {}

  get length(): number {
    return this.hi - this.lo;
  }

  /**
   * Cuts the chunk after its first `k` items; returns the rest as a new chunk, in the same state.
   * `linked` (ordered mode): the rest follows it in the source-order list.
   */
  cut(k: number, linked: boolean): Chunk<In> {
    const rest = new Chunk<In>(
      this.first + k,
      this.inputs,
      this.lo + k,
      this.hi,
      this.attempts,
      this.queuedAt,
    );
    rest.state = this.state;
    rest.cap = this.cap;
    this.hi = this.lo + k;
    if (linked) {
      rest.next = this.next;
      this.next = rest;
    }
    return rest;
  }
}

/** Chunks sent to the executor together, while they run. */
export interface Batch<In> {
  readonly chunks: Chunk<In>[];
  /** Items in the batch, over its chunks. */
  readonly count: number;
  running: RunningBatch;
  /** When it was submitted (the engine's clock). */
  readonly sentAt: number;
  cancelTimer: (() => void) | undefined;
  /** Position of the item that ran past the timeout, once the batch was stopped for it. */
  timedOut: number | undefined;
  /** Each item's `rxpool:item` trace, by position, when the channel had subscribers at launch. */
  readonly traces: ItemTrace[] | undefined;
}

/**
 * The inputs of a batch, in an array of its own (the chunks' arrays are cleared as their items are
 * emitted, so that what was emitted can be collected).
 */
export function inputsOf<In>(chunks: readonly Chunk<In>[]): unknown[] {
  if (chunks.length === 1) {
    const chunk = chunks[0]!;
    return chunk.inputs.slice(chunk.lo, chunk.hi);
  }
  const inputs: unknown[] = [];
  for (const chunk of chunks) {
    for (let i = chunk.lo; i < chunk.hi; i++) inputs.push(chunk.inputs[i]);
  }
  return inputs;
}

/** The spans of a batch's items: one per chunk (their attempt is the one to come). */
export function spansOf<In>(
  chunks: readonly Chunk<In>[],
  origin: readonly ItemSpan[] | undefined,
): ItemSpan[] {
  const spans: ItemSpan[] = [];
  for (const chunk of chunks) {
    const span = { index: chunk.first, count: chunk.length, attempt: chunk.attempts + 1 };
    if (origin === undefined) spans.push(span);
    else spans.push(...within(origin, span));
  }
  return spans;
}

/** `span` (of a stream whose items are `origin`'s) as spans of `origin`'s items. */
export function within(origin: readonly ItemSpan[], span: ItemSpan): ItemSpan[] {
  const spans: ItemSpan[] = [];
  let skip = span.index;
  let left = span.count;
  for (const run of origin) {
    if (left === 0) break;
    if (skip >= run.count) {
      skip -= run.count;
      continue;
    }
    const count = Math.min(run.count - skip, left);
    spans.push({ index: run.index + skip, count, attempt: run.attempt + span.attempt - 1 });
    left -= count;
    skip = 0;
  }
  return spans;
}

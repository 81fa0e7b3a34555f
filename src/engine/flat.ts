/**
 * The engine's policy for flat items (`parallelFlatMap`, `pool.imapFlat`): an item whose work
 * returns many values, which come back while it runs. One {@link FlatItem} per item of a flat
 * stream holds what came and was not emitted yet, counts what was emitted, grants the worker credit
 * as values leave (the `highWaterMark`), and says how long the item has waited for its next value
 * (its timeout), not counting the time it was paused for want of credit. The engine (engine.ts)
 * keeps the window, the order, the batches and the retries as for any item; it asks this file what
 * is particular to a stream of values.
 */

import type { Clock } from './clock.js';

/**
 * The default of the `highWaterMark` option: 1,024 values of one item held on the caller's side.
 * Enough that a worker's messages of values (up to a thousand, or what a few ms gave) flow without
 * waiting for credit, small enough that an ordered stream whose head item is slow holds a bounded
 * number of values of the items running behind it.
 */
export const DEFAULT_HIGH_WATER_MARK = 1024;

/** What the engine needs of a running batch to grant credit. */
export interface Granting {
  grant?(position: number, count: number): void;
}

export class FlatItem {
  /** Values that came and were not emitted, from `head` on. */
  private buffer: unknown[] = [];
  private head = 0;
  /** Values that came in this attempt. */
  private received = 0;
  /** Credit granted back to the worker in this attempt. */
  private granted = 0;
  /** Emitted since the last grant. */
  private ungranted = 0;
  /** Values emitted downstream, over every attempt (only an attempt with none may run again). */
  emitted = 0;
  /** In the engine's deque of items with something to emit (unordered mode). */
  ready = false;
  /** When the item last got a value or credit (the engine's clock), for its timeout. */
  lastAt: number;
  /** The batch that runs this attempt (the engine's record, and the executor's), and the position. */
  private batch: object | undefined;
  private running: Granting | undefined;
  private position = 0;

  constructor(
    private readonly highWaterMark: number,
    now: number,
  ) {
    this.lastAt = now;
  }

  /** An attempt starts: what the last one left is dropped (nothing of it was emitted). */
  start(batch: object, running: Granting, position: number, now: number): void {
    this.batch = batch;
    this.buffer = [];
    this.head = 0;
    this.received = 0;
    this.granted = 0;
    this.ungranted = 0;
    this.running = running;
    this.position = position;
    this.lastAt = now;
  }

  /** The attempt is over (it ended, or its batch did): no more credit goes to it. */
  stop(): void {
    this.running = undefined;
    this.batch = undefined;
  }

  /** Whether the item runs in `batch` and has not ended: its values and its end come from it. */
  runsIn(batch: object): boolean {
    return this.batch === batch;
  }

  /** Values that came and wait to be emitted. */
  get pending(): number {
    return this.buffer.length - this.head;
  }

  /** Values came (in order). */
  add(values: ArrayLike<unknown>, now: number): void {
    const { buffer } = this;
    for (let i = 0; i < values.length; i++) buffer.push(values[i]);
    this.received += values.length;
    this.lastAt = now;
  }

  /**
   * The next value to emit; call only while `pending > 0`. Grants credit as values leave (the
   * clock is read then only: not once a value).
   */
  take(clock: Clock): unknown {
    const value = this.buffer[this.head];
    this.buffer[this.head++] = undefined;
    if (this.head === this.buffer.length) {
      this.buffer = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.buffer.length) {
      this.buffer = this.buffer.slice(this.head);
      this.head = 0;
    }
    this.emitted++;
    if (this.running !== undefined) {
      this.ungranted++;
      // Credit goes back in steps of a quarter of the mark, not a message per value; a step is
      // never more than the mark, so a worker that sent all it may always gets some back.
      if (this.ungranted >= Math.max(1, this.highWaterMark >> 2)) {
        if (this.paused) this.lastAt = clock.now();
        this.granted += this.ungranted;
        this.running.grant?.(this.position, this.ungranted);
        this.ungranted = 0;
      }
    }
    return value;
  }

  /** The worker may send no more values until credit comes: its wait does not count as its own. */
  get paused(): boolean {
    return this.received >= this.highWaterMark + this.granted;
  }

  /**
   * How long the item has waited for its next value (or its end), in ms: the executor's measure
   * of its run (`ranMs`, which counts from its start in the worker) bounded by the time since the
   * last value or credit. `undefined` while it is paused for credit.
   */
  waited(ranMs: number, now: number): number | undefined {
    if (this.paused) return undefined;
    return Math.min(ranMs, now - this.lastAt);
  }
}

/** Why a flat stream cannot run on a pool whose executor does not stream values. */
export function cannotStream(): Error {
  return new TypeError(
    "This pool's executor cannot stream values (its `traits.streams` is not true): " +
      'parallelFlatMap, parallelFlatSettle and pool.imapFlat need one that does, such as the ' +
      'default thread or process executor. Use parallelMap with work that returns an array, and ' +
      'mergeAll() after it, to run on this executor.',
  );
}

/**
 * How many items travel to a worker in one message.
 *
 * With `'auto'`, an item goes out alone while workers are idle (nothing waits, so nothing is
 * added to its latency). Once items queue up behind busy workers, several go together: as many as
 * run in about the executor's `targetBatchMs` (`TARGET_BATCH_MS` on threads) by the measured time
 * per item, but never more than an even share of the unfinished items (waiting or out) among the
 * executor's slots, so that no worker holds items another could be running (the tail stays short).
 */

import { TARGET_BATCH_MS } from '../executor/targets.js';

/** No batch is larger than this, whatever the measurements say. */
const MAX_BATCH = 65_536;

/** How much of what was measured before each new batch keeps (older batches fade away). */
const KEEP = 0.7;

export class BatchSizer {
  /**
   * Run time and items of the batches measured, each batch's share fading by `KEEP` per later
   * batch. Their ratio is the time per item, weighed by items: a first batch of one item (whose
   * time is mostly the batch's own start) does not hold back the size of the next ones for long.
   */
  private ms = 0;
  private items = 0;

  /**
   * @param targetMs The run time a batch aims for, in ms (the executor's `targetBatchMs`).
   */
  constructor(
    private readonly fixed: number | 'auto',
    private readonly targetMs = TARGET_BATCH_MS,
  ) {}

  /** Smoothed ms per item; NaN until a batch has been measured. */
  private get perItem(): number {
    return this.items === 0 ? Number.NaN : this.ms / this.items;
  }

  /** Feeds the measured run time of a batch of `count` items. */
  observe(ms: number, count: number): void {
    if (count === 0 || !(ms >= 0)) return;
    this.ms = this.ms * KEEP + ms;
    this.items = this.items * KEEP + count;
  }

  /** How long `count` items should run, by the measurements so far; `undefined` before any. */
  expectedMs(count: number): number | undefined {
    return Number.isNaN(this.perItem) ? undefined : this.perItem * count;
  }

  /**
   * The size of the next batch, with `queued` items waiting, `running` out in batches, and
   * `slots` batches out at once. The share is of all the unfinished work, not of what waits only:
   * when a slot frees while the others are busy, it takes its part of the whole, and batches do
   * not shrink each time a few items were admitted.
   */
  next(queued: number, slots: number, running = 0): number {
    if (this.fixed !== 'auto') return Math.min(this.fixed, queued);
    if (queued <= 1 || Number.isNaN(this.perItem)) return Math.min(1, queued);
    const byTime = Math.max(1, Math.floor(this.targetMs / Math.max(this.perItem, 1e-6)));
    const share = Math.ceil((queued + running) / slots);
    return Math.max(1, Math.min(byTime, share, MAX_BATCH));
  }
}

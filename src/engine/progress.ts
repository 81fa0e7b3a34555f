/**
 * Progress reports for long work: counts of what the engine emitted, its rate and, when the total
 * is known, the time left. Reports are throttled so that a stream of tiny items does not pay for
 * one callback per item.
 */
import type { Clock } from './clock.js';

/**
 * What a `progress` callback receives: counts of the work done, its rate, and the time left.
 *
 * _A snapshot for a progress bar: how far along, how fast, how long still._
 *
 * Reports come on the main thread at most every 100 ms while items are emitted, and once more,
 * with `final: true`, when the stream completes. A stream of tiny items thus does not pay for one
 * callback per item. Give the `total` option (or an array to `pool.map` / `pool.imap`) to get
 * {@link Progress.etaMs}.
 *
 * ## Example
 * ```ts
 * await pool.map((n: number) => n * 2, [1, 2, 3], {
 *   progress: (p) => {
 *     if (p.final) console.log(`${p.done}/${p.total} done, ${p.failed} failed, ${p.inFlight} left`);
 *   },
 * });
 * // Output:
 * // 3/3 done, 0 failed, 0 left
 * ```
 *
 * @see {@link ParallelOptions.progress}
 */
export interface Progress {
  /**
   * Items emitted so far, succeeded or failed.
   *
   * @default 0 before the first item is emitted
   */
  readonly done: number;
  /**
   * Of the items emitted, how many failed (after their retries).
   *
   * @default 0 before the first failure
   */
  readonly failed: number;
  /** Items taken from the source and not yet emitted: running, queued, or waiting for their turn. */
  readonly inFlight: number;
  /**
   * The `total` option (for `pool.map`/`pool.imap` over an array, its length).
   *
   * @default `undefined` when the total is not known
   */
  readonly total: number | undefined;
  /**
   * ms since the first item was taken from the source.
   *
   * @default 0 before the first item is taken
   */
  readonly elapsedMs: number;
  /**
   * Items emitted per second since the first item was taken.
   *
   * @default 0 before any time has passed
   */
  readonly rate: number;
  /**
   * ms left at the current rate: the items still to emit (`total - done`) divided by `rate`.
   *
   * @default `undefined` while `total` or the rate is not known
   */
  readonly etaMs: number | undefined;
  /**
   * `true` on the last report, made when the stream completes; `false` on the others. No final
   * report is made when the stream errors or is unsubscribed.
   */
  readonly final: boolean;
}

/** The shortest time between two reports, in ms. */
const PROGRESS_INTERVAL_MS = 100;

export class ProgressMeter {
  private done = 0;
  private failed = 0;
  private startedAt: number | undefined;
  private lastReport = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly report: (progress: Progress) => void,
    private readonly total: number | undefined,
    private readonly clock: Clock,
  ) {}

  /** The first item was taken: the clock starts. */
  start(): void {
    this.startedAt ??= this.clock.now();
  }

  /** An item was emitted. */
  emitted(failed: boolean): void {
    this.done++;
    if (failed) this.failed++;
  }

  /** Reports if the last report is old enough (or always, when `final`). */
  flush(inFlight: number, final: boolean): void {
    const now = this.clock.now();
    if (!final && now - this.lastReport < PROGRESS_INTERVAL_MS) return;
    this.lastReport = now;
    const elapsedMs = this.startedAt === undefined ? 0 : now - this.startedAt;
    const rate = elapsedMs > 0 ? (this.done * 1000) / elapsedMs : 0;
    const total = this.total;
    this.report({
      done: this.done,
      failed: this.failed,
      inFlight,
      total,
      elapsedMs,
      rate,
      etaMs:
        total !== undefined && rate > 0
          ? (Math.max(0, total - this.done) * 1000) / rate
          : undefined,
      final,
    });
  }
}

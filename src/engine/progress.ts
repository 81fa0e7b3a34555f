/**
 * Progress reports for long work: counts of what the engine emitted, its rate and, when the total
 * is known, the time left. Reports are throttled so that a stream of tiny items does not pay for
 * one callback per item.
 */
import type { Clock } from './clock.js';

/** What a `progress` callback receives. */
export interface Progress {
  /** Items emitted so far, succeeded or failed. */
  readonly done: number;
  /** Of those, how many failed. */
  readonly failed: number;
  /** Items taken from the source and not yet emitted. */
  readonly inFlight: number;
  /** The `total` option (for `pool.map`/`pool.imap` over an array, its length), if known. */
  readonly total: number | undefined;
  /** ms since the first item was taken. */
  readonly elapsedMs: number;
  /** Items emitted per second since the first was taken; 0 before any. */
  readonly rate: number;
  /** ms left at the current rate, when `total` and the rate are known. */
  readonly etaMs: number | undefined;
  /** `true` on the last report, made when the stream completes. */
  readonly final: boolean;
}

/** The shortest time between two reports, in ms. */
export const PROGRESS_INTERVAL_MS = 100;

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

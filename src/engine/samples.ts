/**
 * The most recent timings of a pool, for the percentiles in `pool.stats()`: a ring of the last
 * 1024 samples, so the numbers follow what the pool does now and cost no memory over time.
 */

/**
 * Percentiles of a timing, in ms, over a pool's most recent 1024 samples.
 *
 * _The typical, the slow, and the slowest-but-rare time, as {@link Pool.stats} reports them._
 *
 * ## Example
 * ```ts
 * await pool.map((n: number) => n * 2, [1, 2, 3]);
 * const { p50, p99 } = pool.stats().runTime;
 * console.log(p50 <= p99);
 * // Output:
 * // true
 * ```
 *
 * @see {@link PoolStats.runTime}
 * @see {@link PoolStats.waitTime}
 */
export interface Percentiles {
  /**
   * The median: half the samples took this long or less, in ms.
   *
   * @default 0 before any sample
   */
  readonly p50: number;
  /**
   * 90% of the samples took this long or less, in ms.
   *
   * @default 0 before any sample
   */
  readonly p90: number;
  /**
   * 99% of the samples took this long or less, in ms: the slow tail.
   *
   * @default 0 before any sample
   */
  readonly p99: number;
}

const SIZE = 1024;

export class Samples {
  private readonly ring = new Float64Array(SIZE);
  private count = 0;

  add(ms: number): void {
    this.ring[this.count++ % SIZE] = ms;
  }

  percentiles(): Percentiles {
    const n = Math.min(this.count, SIZE);
    if (n === 0) return { p50: 0, p90: 0, p99: 0 };
    const sorted = this.ring.slice(0, n).sort();
    const at = (q: number) => sorted[Math.min(n - 1, Math.floor(q * n))]!;
    return { p50: at(0.5), p90: at(0.9), p99: at(0.99) };
  }
}

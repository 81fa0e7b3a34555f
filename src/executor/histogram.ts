/**
 * Latency histograms for `pool.stats()`: log-linear buckets (16 a power of two, from about a
 * microsecond to weeks), so that an `add` is a few integer operations on the number's bits and a
 * slot of a typed array, cheap enough to be always on, and the memory is fixed however long the
 * pool lives. A percentile is the middle of its bucket (at most ~3% off the value), never more than
 * the largest value seen, which is kept exactly.
 */

/**
 * Percentiles of a timing, in ms, over every item since the pool was made.
 *
 * _The typical, the slow, the slowest-but-rare and the slowest time, as {@link Pool.stats}
 * reports them._
 *
 * Each percentile is read from a histogram with 16 buckets per power of two: it is within ~3% of
 * the exact value. `max` is exact.
 *
 * ## Example
 * ```ts
 * await pool.map((n: number) => n * 2, [1, 2, 3]);
 * const { p50, p99, max, count } = pool.stats().runTime;
 * console.log(p50 <= p99 && p99 <= max, count);
 * // Output:
 * // true 3
 * ```
 *
 * @see {@link PoolStats.runTime}
 * @see {@link PoolStats.waitTime}
 */
export interface Percentiles {
  /**
   * The median: half the items took this long or less, in ms.
   *
   * @default 0 before any item
   */
  readonly p50: number;
  /**
   * 90% of the items took this long or less, in ms.
   *
   * @default 0 before any item
   */
  readonly p90: number;
  /**
   * 99% of the items took this long or less, in ms: the slow tail.
   *
   * @default 0 before any item
   */
  readonly p99: number;
  /**
   * The longest, in ms (exact).
   *
   * @default 0 before any item
   */
  readonly max: number;
  /**
   * How many items were measured.
   *
   * @default 0 before any item
   */
  readonly count: number;
}

/** Sub-buckets per power of two: the top 4 bits of a double's mantissa. */
const SUB_BITS = 4;
const SUB = 1 << SUB_BITS;
/** The smallest power of two with buckets of its own: 2^-10 ms, about 1 µs; below, one bucket. */
const MIN_EXP = -10;
/** The largest: 2^31 ms, about 25 days; above, the last bucket. */
const MAX_EXP = 31;
const BUCKETS = 1 + (MAX_EXP - MIN_EXP + 1) * SUB;

/** One double, read as two 32-bit words: its exponent and top mantissa bits are its bucket. */
const bits = new Float64Array(1);
const words = new Uint32Array(bits.buffer);
/** The word that holds the sign, exponent and top of the mantissa (1 on little-endian machines). */
const HIGH = (() => {
  bits[0] = 1;
  return words[1] === 0x3ff00000 ? 1 : 0;
})();

/** The bucket of `ms`: 0 for less than 2^MIN_EXP (and 0, negatives, NaN), the last for huge. */
function bucketOf(ms: number): number {
  if (!(ms >= 2 ** MIN_EXP)) return 0;
  bits[0] = ms;
  const high = words[HIGH]!;
  const exp = (high >>> 20) - 1023;
  if (exp > MAX_EXP) return BUCKETS - 1;
  return 1 + (exp - MIN_EXP) * SUB + ((high >>> (20 - SUB_BITS)) & (SUB - 1));
}

/** The middle of bucket `b`, in ms. */
function middleOf(b: number): number {
  if (b === 0) return 0;
  const exp = MIN_EXP + Math.floor((b - 1) / SUB);
  const sub = (b - 1) % SUB;
  return 2 ** exp * (1 + (sub + 0.5) / SUB);
}

/** Counts of timings by bucket, and the largest: see the file's header. */
export class Histogram {
  private readonly counts = new Float64Array(BUCKETS);
  private total = 0;
  private max = 0;

  /** Adds `weight` items that each took `ms` (a batch's items at their average). O(1). */
  add(ms: number, weight = 1): void {
    this.counts[bucketOf(ms)]! += weight;
    this.total += weight;
    if (ms > this.max) this.max = ms;
  }

  percentiles(): Percentiles {
    const { total, max } = this;
    if (total === 0) return { p50: 0, p90: 0, p99: 0, max: 0, count: 0 };
    return {
      p50: this.at(0.5),
      p90: this.at(0.9),
      p99: this.at(0.99),
      max,
      count: total,
    };
  }

  /** The value at quantile `q`: the middle of the first bucket that reaches it, at most `max`. */
  private at(q: number): number {
    const target = q * this.total;
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.counts[b]!;
      if (seen >= target && seen > 0) return Math.min(middleOf(b), this.max);
    }
    return this.max;
  }
}

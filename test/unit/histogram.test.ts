/**
 * The latency histogram of `pool.stats()` against the exact percentiles of the same values.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Histogram } from '../../src/executor/histogram.js';

/** The exact value at quantile `q`: the smallest that at least `q` of the values do not exceed. */
function exact(sorted: readonly number[], q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

/** Within a bucket's half width of the exact value (or a microsecond, for the smallest). */
function close(reported: number, value: number): boolean {
  return Math.abs(reported - value) <= value / 30 + 2 ** -10;
}

describe('Histogram', () => {
  it('reports zeros before any value', () => {
    assert.deepEqual(new Histogram().percentiles(), { p50: 0, p90: 0, p99: 0, max: 0, count: 0 });
  });

  it('gives p50/p90/p99 within ~3% of the exact values, and the exact max and count', () => {
    const value = fc.oneof(
      fc.double({ min: 0, max: 1e7, noNaN: true }),
      fc.double({ min: 0, max: 0.01, noNaN: true }),
      fc.integer({ min: 0, max: 1000 }),
    );
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 500 }), (values) => {
        const histogram = new Histogram();
        for (const v of values) histogram.add(v);
        const sorted = [...values].sort((a, b) => a - b);
        const got = histogram.percentiles();
        assert.equal(got.max, sorted.at(-1));
        assert.equal(got.count, values.length);
        for (const [q, reported] of [
          [0.5, got.p50],
          [0.9, got.p90],
          [0.99, got.p99],
        ] as const) {
          const want = exact(sorted, q);
          assert.ok(close(reported, want), `q ${q}: ${reported} for ${want}`);
          assert.ok(reported <= got.max);
        }
      }),
    );
  });

  it('counts a weighted value as that many items', () => {
    const histogram = new Histogram();
    histogram.add(1, 98);
    histogram.add(100, 2);
    const { p50, p90, p99, max, count } = histogram.percentiles();
    assert.equal(count, 100);
    assert.equal(max, 100);
    assert.ok(close(p50, 1) && close(p90, 1), `${p50} ${p90}`);
    assert.ok(close(p99, 100), `${p99}`);
  });

  it('keeps values beyond its range in its last bucket, and max exact', () => {
    const histogram = new Histogram();
    histogram.add(1e12);
    histogram.add(-1);
    histogram.add(Number.NaN);
    const { max, count, p99 } = histogram.percentiles();
    assert.equal(max, 1e12);
    assert.equal(count, 3);
    assert.ok(p99 > 2 ** 31 && p99 <= 1e12, `${p99}`);
  });
});

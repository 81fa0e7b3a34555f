/**
 * The work on a signal held in a SharedArrayBuffer: each call gets the shared memory and a range
 * of it, so no sample is ever copied to or from a worker. Runs in the workers
 * (`task(new URL('./kernels.ts', import.meta.url), 'name')`) and, for the baseline, on this thread.
 */

/** A range of a shared Float32 signal. */
export interface Range {
  readonly shared: SharedArrayBuffer;
  readonly from: number;
  readonly to: number;
}

/** The smallest and largest sample of a range, and their sum. */
export interface Summary {
  readonly min: number;
  readonly max: number;
  readonly sum: number;
}

/** Reads a range: min, max and sum. */
export function summarize({ shared, from, to }: Range): Summary {
  const samples = new Float32Array(shared);
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let i = from; i < to; i++) {
    const v = samples[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  return { min, max, sum };
}

/** Rescales a range in place to [-1, 1] given the signal's min and max; returns how many. */
export function normalize({ shared, from, to, min, max }: Range & { min: number; max: number }) {
  const samples = new Float32Array(shared);
  const scale = max > min ? 2 / (max - min) : 0;
  for (let i = from; i < to; i++) samples[i] = (samples[i]! - min) * scale - 1;
  return to - from;
}

/** Merges the summaries of the ranges. */
export function merge(parts: readonly Summary[]): Summary {
  return parts.reduce(
    (a, b) => ({ min: Math.min(a.min, b.min), max: Math.max(a.max, b.max), sum: a.sum + b.sum }),
    { min: Infinity, max: -Infinity, sum: 0 },
  );
}

/**
 * Normalizes a large signal in place on the pool: it lives in a SharedArrayBuffer, the workers get
 * ranges of it, and only a few numbers per range travel back. Also the same on this thread alone,
 * to compare the time and check the result is the same.
 */
import { createPool, type Pool, task } from 'rxpool';
import { merge, normalize, type Range, type Summary, summarize } from './kernels.js';

const kernels = new URL('./kernels.ts', import.meta.url);
const summarizeTask = task<Range, Summary>(kernels, 'summarize');
const normalizeTask = task<Range & { min: number; max: number }, number>(kernels, 'normalize');

/** A deterministic test signal: a few sines plus noise, `length` samples, in shared memory. */
export function makeSignal(length: number, seed = 1): Float32Array<SharedArrayBuffer> {
  const samples = new Float32Array(new SharedArrayBuffer(length * 4));
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const noise = ((state >>> 0) / 2 ** 32 - 0.5) * 0.2;
    samples[i] = 3 * Math.sin(i / 50) + Math.sin(i / 7) + noise + 5;
  }
  return samples;
}

/** `count` ranges that cover `length` samples. */
export function ranges(shared: SharedArrayBuffer, length: number, count: number): Range[] {
  const size = Math.ceil(length / count);
  const out: Range[] = [];
  for (let from = 0; from < length; from += size) {
    out.push({ shared, from, to: Math.min(length, from + size) });
  }
  return out;
}

export interface Outcome {
  readonly summary: Summary;
  readonly ms: number;
}

/** Summarizes, then normalizes in place, on the pool: two passes of `pool.map` over the ranges. */
export async function normalizeOnPool(
  samples: Float32Array<SharedArrayBuffer>,
  pool: Pool,
  parts = 64,
): Promise<Outcome> {
  const start = performance.now();
  const rs = ranges(samples.buffer, samples.length, parts);
  const summary = merge(await pool.map(summarizeTask, rs));
  await pool.map(
    normalizeTask,
    rs.map((r) => ({ ...r, min: summary.min, max: summary.max })),
  );
  return { summary, ms: performance.now() - start };
}

/** The same two passes on this thread. */
export function normalizeHere(samples: Float32Array<SharedArrayBuffer>): Outcome {
  const start = performance.now();
  const all = { shared: samples.buffer, from: 0, to: samples.length };
  const summary = summarize(all);
  normalize({ ...all, min: summary.min, max: summary.max });
  return { summary, ms: performance.now() - start };
}

/** Runs both on copies of the same signal; says whether they agree. */
export async function run(length: number, pool = createPool()) {
  const onPool = makeSignal(length);
  const here = makeSignal(length);
  await pool.run(summarizeTask, { shared: onPool.buffer, from: 0, to: 1 }); // start the workers
  const parallel = await normalizeOnPool(onPool, pool);
  const single = normalizeHere(here);
  let same = true;
  for (let i = 0; i < length; i++) {
    if (onPool[i] !== here[i]) {
      same = false;
      break;
    }
  }
  return { parallel, single, same, samples: onPool };
}

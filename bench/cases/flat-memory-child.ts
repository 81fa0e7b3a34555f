/**
 * The child process of case `flat`'s memory run (bench/cases/flat.ts starts it, so that the other
 * runs do not pollute its RSS): an endless generator of small records through `parallelFlatMap`
 * and `take(--values)`, read by a slow consumer (a spin of `--consumer-us` per value on this
 * thread), or, with `--face imap`, through `pool.imapFlat` by a loop that awaits a macrotask every
 * 64 values. RSS (this process: the main thread and the worker threads) is sampled; one line of
 * JSON is printed.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { from, take } from 'rxjs';
import { createPool, task } from 'rxpool';
import { parallelFlatMap } from 'rxpool/operators';
import { collectGarbage } from '../harness.js';

const { values } = parseArgs({
  options: {
    values: { type: 'string', default: '200000' },
    'consumer-us': { type: 'string', default: '5' },
    face: { type: 'string', default: 'rxjs' },
  },
});
const count = Number(values.values);
const consumerUs = Number(values['consumer-us']);
const MB = 1024 * 1024;
const endless = task<{ item: number }, Iterable<{ v: number }>>(
  new URL('../workers/flat.mjs', import.meta.url),
  'endless',
);
const pool = createPool();

function spin(us: number): void {
  const end = performance.now() + us / 1000;
  while (performance.now() < end);
}

/** Reads `n` values, slowly; resolves with how many came. */
function run(n: number, slow: boolean): Promise<number> {
  if (values.face === 'imap') {
    return (async () => {
      let seen = 0;
      for await (const _ of pool.imapFlat(endless, [{ item: 0 }])) {
        if (slow && (seen & 63) === 0) await new Promise(setImmediate);
        if (++seen === n) break;
      }
      return seen;
    })();
  }
  return new Promise((resolve, reject) => {
    let seen = 0;
    from([{ item: 0 }])
      .pipe(parallelFlatMap(endless, { pool }), take(n))
      .subscribe({
        next: () => {
          seen++;
          if (slow) spin(consumerUs);
        },
        error: reject,
        complete: () => resolve(seen),
      });
  });
}

// Start the workers and warm up, then take the baseline after a full collection.
await run(20_000, false);
collectGarbage();
const baseline = process.memoryUsage.rss();
let peak = baseline;
const sample = () => {
  peak = Math.max(peak, process.memoryUsage.rss());
};
const timer = setInterval(sample, 10);
const started = performance.now();
const seen = await run(count, true);
const ms = performance.now() - started;
clearInterval(timer);
sample();
await pool.close();
if (seen !== count) throw new Error(`${seen} values came, not ${count}`);
console.log(
  JSON.stringify({
    values: count,
    ms,
    valuesPerSec: count / (ms / 1000),
    baselineMb: baseline / MB,
    peakMb: peak / MB,
    growthMb: (peak - baseline) / MB,
  }),
);

/**
 * The child process of case `memory` (bench/cases/memory.ts starts it, so that the other cases do
 * not pollute its RSS): streams `--items` numbers from a generator through `pool.imap` with a
 * trivial task, samples RSS, and prints one line of JSON.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createPool } from 'rxpool';
import { addToChecksum, checksum, collectGarbage, expectEqual, numbers } from '../harness.js';

const { values } = parseArgs({ options: { items: { type: 'string' } } });
const items = Number(values.items);
if (!(Number.isInteger(items) && items >= 1)) {
  throw new TypeError(`Expected --items to be an integer from 1 up, got ${values.items}`);
}

const MB = 1024 * 1024;
const square = (x: number) => x * x;
const pool = createPool();

// Start the workers and warm up (JIT, the inline function compiled in every worker) on a
// smaller stream, then take the baseline after a full collection.
await pool.map(square, numbers(Math.min(items, 50_000)));
collectGarbage();
const baseline = process.memoryUsage.rss();
let peak = baseline;
const sample = () => {
  peak = Math.max(peak, process.memoryUsage.rss());
};
// Sampled on a timer and every 4096 items, whichever comes first.
const timer = setInterval(sample, 10);

let count = 0;
let sum = 0;
const started = performance.now();
for await (const value of pool.imap(square, numbers(items))) {
  sum = addToChecksum(sum, value);
  if ((++count & 4095) === 0) sample();
}
const ms = performance.now() - started;
clearInterval(timer);
sample();
await pool.close();

expectEqual(count, items, 'items out');
expectEqual(sum, checksum(Array.from(numbers(items), square)), 'checksum');
console.log(
  JSON.stringify({
    items,
    ms,
    itemsPerSec: items / (ms / 1000),
    baselineMb: baseline / MB,
    peakMb: peak / MB,
    growthMb: (peak - baseline) / MB,
  }),
);

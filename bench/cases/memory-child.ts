/**
 * The child process of case `memory` (bench/cases/memory.ts starts it, so that the other cases do
 * not pollute its RSS): streams `--items` numbers (or, with `--shape objects`, small records
 * `{ id, name }` that come back as `{ id, square }`) from a generator through `pool.imap` with a
 * trivial task, samples RSS and this thread's heap, and prints one line of JSON. `--concurrency`
 * sets the option (default: the library's).
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createPool } from 'rxpool';
import { addToChecksum, checksum, collectGarbage, expectEqual, numbers } from '../harness.js';

const { values } = parseArgs({
  options: {
    items: { type: 'string' },
    shape: { type: 'string', default: 'numbers' },
    concurrency: { type: 'string' },
  },
});
const items = Number(values.items);
if (!(Number.isInteger(items) && items >= 1)) {
  throw new TypeError(`Expected --items to be an integer from 1 up, got ${values.items}`);
}
if (values.shape !== 'numbers' && values.shape !== 'objects') {
  throw new TypeError(`Expected --shape to be numbers or objects, got ${values.shape}`);
}
const objects = values.shape === 'objects';
const concurrency = values.concurrency === undefined ? undefined : Number(values.concurrency);

const MB = 1024 * 1024;
const square = (x: number) => x * x;
interface Rec {
  readonly id: number;
  readonly name: string;
}
const squareRecord = (r: Rec) => ({ id: r.id, square: r.id * r.id });
function* records(n: number): Generator<Rec> {
  for (let id = 0; id < n; id++) yield { id, name: `record ${id}` };
}
const pool = createPool();
/** The stream's results, each as a number (a record's square). */
const stream = (n: number): AsyncIterable<number | { square: number }> =>
  objects
    ? pool.imap(squareRecord, records(n), { concurrency })
    : pool.imap(square, numbers(n), { concurrency });

// Start the workers and warm up (JIT, the inline function compiled in every worker) on a
// smaller stream, then take the baseline after a full collection.
for await (const _ of stream(Math.min(items, 50_000)));
collectGarbage();
const baseline = process.memoryUsage.rss();
const baselineHeap = process.memoryUsage().heapUsed;
let peak = baseline;
let peakHeap = 0;
const sample = () => {
  const { rss, heapUsed } = process.memoryUsage();
  peak = Math.max(peak, rss);
  peakHeap = Math.max(peakHeap, heapUsed);
};
// Sampled on a timer and every 4096 items, whichever comes first.
const timer = setInterval(sample, 10);

let count = 0;
let sum = 0;
const started = performance.now();
for await (const value of stream(items)) {
  sum = addToChecksum(sum, typeof value === 'number' ? value : value.square);
  if ((++count & 4095) === 0) sample();
}
const ms = performance.now() - started;
clearInterval(timer);
sample();
// What the stream left behind in this thread's heap: 0 unless something is retained.
collectGarbage();
const leftHeap = process.memoryUsage().heapUsed - baselineHeap;
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
    peakHeapMb: peakHeap / MB,
    baselineHeapMb: baselineHeap / MB,
    leftHeapMb: leftHeap / MB,
  }),
);

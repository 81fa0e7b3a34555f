/**
 * Splits generated CSV files of sales into records on rxpool's workers, streaming the records
 * back while the files are read, and sums revenue by region on the main thread; then the same on
 * one thread, and prints both.
 *
 *   node --import tsx examples/split-csv/main.ts [--files 8] [--rows 250000] [--seed 1]
 *     [--dir examples/split-csv/out]
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createPool } from 'rxpool';
import { writeSales } from './generate.js';
import { sameTotals, totalsOnOneThread, totalsOnWorkers } from './split-csv.js';

const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '8' },
    rows: { type: 'string', default: '250000' },
    seed: { type: 'string', default: '1' },
    dir: { type: 'string', default: fileURLToPath(new URL('./out', import.meta.url)) },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(
    'Usage: node --import tsx examples/split-csv/main.ts [--files N] [--rows N] [--seed N] [--dir DIR]',
  );
  process.exit(0);
}
function integer(name: string, text: string, min: number): number {
  const n = Number(text);
  if (!(Number.isInteger(n) && n >= min)) {
    console.error(`--${name} must be an integer from ${min} up, got '${text}'`);
    process.exit(2);
  }
  return n;
}
const files = integer('files', values.files, 1);
const rows = integer('rows', values.rows, 1);
const seed = integer('seed', values.seed, 0);

const paths = await writeSales(values.dir, { files, rows, seed });
console.log(`files: ${files} x ${rows.toLocaleString('en-US')} rows in ${values.dir}`);

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
let started = performance.now();
const alone = await totalsOnOneThread(paths);
const aloneMs = performance.now() - started;

await using pool = createPool();
await pool.run(() => 0, 0); // start the workers: not counted below
started = performance.now();
const workers = await totalsOnWorkers(paths, pool);
const workersMs = performance.now() - started;
if (!sameTotals(workers, alone)) throw new Error('The workers and one thread disagree');

console.log(`workers: ${availableParallelism()} (os.availableParallelism())`);
console.log(`one thread: ${seconds(aloneMs)}`);
console.log(
  `rxpool: ${seconds(workersMs)} (parallelFlatMap; first record after ${workers.firstRecordMs.toFixed(1)} ms)`,
);
console.log(`speedup: ${(aloneMs / workersMs).toFixed(2)}x over one thread`);
console.log(`records: ${workers.records.toLocaleString('en-US')}`);
for (const [region, { cents, units }] of [...workers.byRegion].sort()) {
  console.log(
    `  ${region.padEnd(8)} ${units.toLocaleString('en-US').padStart(12)} units  ${(cents / 100).toLocaleString('en-US', { minimumFractionDigits: 2 }).padStart(16)}`,
  );
}

/**
 * `npm run example:signal [-- --samples N]`: normalizes a shared signal of N float samples in
 * place on the default pool and on one thread, and prints both times.
 */
import { parseArgs } from 'node:util';
import { plural } from '../plural.js';
import { run } from './signal.js';

const { values } = parseArgs({ options: { samples: { type: 'string', default: '50000000' } } });
const length = Number(values.samples);
if (!(Number.isInteger(length) && length > 0)) {
  console.error(`Expected --samples to be an integer from 1 up, got ${values.samples}`);
  process.exit(2);
}
const { parallel, single, same } = await run(length);
const mb = (length * 4) / 2 ** 20;
console.log(
  `signal: ${plural(length, 'sample')} (${mb.toFixed(0)} MiB), shared with the workers, never copied`,
);
console.log(`range: ${parallel.summary.min.toFixed(3)} .. ${parallel.summary.max.toFixed(3)}`);
console.log(`rxpool: ${parallel.ms.toFixed(0)} ms; one thread: ${single.ms.toFixed(0)} ms`);
console.log(`speedup: ${(single.ms / parallel.ms).toFixed(2)}x over one thread`);
console.log(`same result as one thread: ${same ? 'yes' : 'NO'}`);
if (!same) process.exitCode = 1;

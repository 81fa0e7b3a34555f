/**
 * Two or more builds of rxpool side by side on trivial items (x*x, where the per-item cost of the
 * batch runner is all there is to see), in alternated rounds in one process: for a change to the
 * worker's hot loop, measured against the build before it on the same machine in the same
 * minutes. Each round runs `pool.map` over the items once per build, each build on a pool of its
 * own (started and warmed before the first round); prints each one's median, fastest and slowest
 * items/s, and its median's ratio to the first build's.
 *
 *   node bench/ab-trivial.mjs <rounds> <build dir> [<build dir>...]
 *
 * A build dir is a copy of `dist/` in a folder that also holds links to this project's
 * `package.json` and `node_modules`, as for bench/ab-cli.mjs. Environment: `ITEMS` (default
 * 1,000,000), `SIZE` the pools' size (default: the number of CPUs).
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [roundsArg, ...builds] = process.argv.slice(2);
const rounds = Number(roundsArg);
if (!(rounds > 0) || builds.length === 0) {
  console.error('usage: node bench/ab-trivial.mjs <rounds> <build dir> [<build dir>...]');
  process.exit(2);
}
const items = Number(process.env.ITEMS ?? 1_000_000);
const size = Number(process.env.SIZE ?? availableParallelism());
const input = Array.from({ length: items }, (_, i) => i % 1000);
let expected = 0;
for (const x of input) expected += x * x;
const square = (x) => x * x;

const contenders = [];
for (const build of builds) {
  const { createPool } = await import(pathToFileURL(resolve(build, 'src/index.js')).href);
  const pool = createPool({ size });
  await pool.map(square, input.slice(0, 100_000));
  contenders.push({ build, pool, rates: [] });
}

for (let round = 0; round < rounds; round++) {
  // Alternate who goes first, so that neither always runs right after the other's garbage.
  const order = round % 2 === 0 ? contenders : [...contenders].reverse();
  for (const contender of order) {
    const started = performance.now();
    const results = await contender.pool.map(square, input);
    const ms = performance.now() - started;
    let sum = 0;
    for (const r of results) sum += r;
    if (sum !== expected) throw new Error(`${contender.build}: wrong results`);
    contender.rates.push((items / ms) * 1000);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(contenders[0].rates);
for (const { build, rates, pool } of contenders) {
  const m = median(rates);
  console.log(
    `${build}: median ${Math.round(m).toLocaleString('en')} items/s, fastest ${Math.round(Math.max(...rates)).toLocaleString('en')}, slowest ${Math.round(Math.min(...rates)).toLocaleString('en')}, ratio ${(m / base).toFixed(3)}`,
  );
  await pool.close();
}

/**
 * Two or more builds of rxpool side by side on the `flat` case's "~1 us a value" workload (2,000
 * items, each a generator of 200 small records, `parallelFlatMap` ordered), in alternated rounds
 * in one process: for a change to the flat path (the worker's loop, the wire, the engine), measured
 * against the build before it on the same machine in the same minutes. Prints each one's median,
 * fastest and slowest wall time, the spread, the median CPU time of the whole process (the main
 * thread and its worker threads: on a machine whose cores the workers share with the main thread,
 * what a value costs in all), and the medians' ratios to the first build's.
 *
 *   node bench/ab-flat.mjs <rounds> <build dir> [<build dir>...]
 *
 * A build dir is a copy of `dist/` in a folder that also holds links to this project's
 * `package.json` and `node_modules`, as for bench/ab-cli.mjs. Environment: `ITEMS` (default
 * 2,000), `VALUES` per item (default 200), `WORK_US` per value (default 1), `SIZE` the pools' size
 * (default: the number of CPUs), `ORDERED` (`0` for unordered).
 */
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { from, lastValueFrom, reduce } from 'rxjs';

const [roundsArg, ...builds] = process.argv.slice(2);
const rounds = Number(roundsArg);
if (!(rounds > 0) || builds.length === 0) {
  console.error('usage: node bench/ab-flat.mjs <rounds> <build dir> [<build dir>...]');
  process.exit(2);
}
const items = Number(process.env.ITEMS ?? 2000);
const count = Number(process.env.VALUES ?? 200);
const workUs = Number(process.env.WORK_US ?? 1);
const size = Number(process.env.SIZE ?? availableParallelism());
const ordered = process.env.ORDERED !== '0';
const WORKERS = new URL('./workers/flat.mjs', import.meta.url);
const { values } = await import(WORKERS.href);
const inputs = Array.from({ length: items }, (_, item) => ({ item, count, workUs }));
let expected = 0;
for (const input of inputs) for (const { v } of values({ ...input, workUs: 0 })) expected += v;

const contenders = [];
for (const build of builds) {
  const { createPool, task } = await import(pathToFileURL(resolve(build, 'src/index.js')).href);
  const { parallelFlatMap } = await import(
    pathToFileURL(resolve(build, 'operators/index.js')).href
  );
  const pool = createPool({ size });
  const work = task(WORKERS, 'values');
  const run = (inputs) =>
    lastValueFrom(
      from(inputs).pipe(
        parallelFlatMap(work, { pool, ordered }),
        reduce((s, value) => s + value.v, 0),
      ),
    );
  await run(inputs.slice(0, 200));
  contenders.push({ build, pool, run, ms: [], cpu: [] });
}

for (let round = 0; round < rounds; round++) {
  // Alternate who goes first, so that neither always runs right after the other's garbage.
  const order = round % 2 === 0 ? contenders : [...contenders].reverse();
  for (const contender of order) {
    const cpu = process.cpuUsage();
    const started = performance.now();
    const sum = await contender.run(inputs);
    contender.ms.push(performance.now() - started);
    const used = process.cpuUsage(cpu);
    contender.cpu.push((used.user + used.system) / 1000);
    if (sum !== expected) throw new Error(`${contender.build}: wrong sum ${sum}, not ${expected}`);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = contenders[0];
const f = (x) => x.toFixed(0);
console.log(
  `${items} items x ${count} values, ~${workUs} us a value, ${ordered ? 'ordered' : 'unordered'}, ${size} workers, ${rounds} rounds`,
);
for (const { build, ms, cpu, pool } of contenders) {
  const m = median(ms);
  const c = median(cpu);
  console.log(
    `${build}: median ${f(m)} ms (fastest ${f(Math.min(...ms))}, slowest ${f(Math.max(...ms))}, spread ${(((Math.max(...ms) - Math.min(...ms)) / m) * 100).toFixed(0)}%), CPU median ${f(c)} ms; wall ratio ${(median(base.ms) / m).toFixed(3)}, CPU ratio ${(median(base.cpu) / c).toFixed(3)}`,
  );
  await pool.close();
}

/**
 * Two or more builds of `rxpool map` side by side with the `ndjson` case's single-threaded loop, in
 * alternated rounds: for a change to the command line, measured against the build before it on the
 * same machine in the same minutes. Each contender is a child process on the file, timed from
 * spawn to exit, its CPU (user + system) read by `/usr/bin/time`; every output is compared with
 * the loop's byte for byte. Prints each one's median, fastest, slowest, ratio to the loop's median,
 * and median CPU.
 *
 *   node bench/ab-cli.mjs <rounds> <build dir> [<build dir>...]
 *
 * A build dir is a copy of `dist/` in a folder that also holds links to this project's
 * `package.json` and `node_modules` (`mkdir /tmp/ab && ln -s $PWD/package.json $PWD/node_modules
 * /tmp/ab && cp -r dist /tmp/ab/before`, then build the change and `cp -r dist /tmp/ab/after`).
 * Environment: `DATA` the records, `orders` (bench/workers/records.mjs, the default) or `mixed`
 * (bench/workers/mixed.mjs: orders, log lines with escapes, metrics; about 46 MB); `NDJSON` the
 * input file (default: 300,000 records of `DATA` written to a temporary file); `TASK` the export
 * of that module to run (orders: `summarize`, the default, or `fingerprint`; mixed: `transform`);
 * `WORKERS` rxpool's `--workers` (default 2).
 *
 *   DATA=mixed node bench/ab-cli.mjs 11 /tmp/ab/before /tmp/ab/after
 */
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const data = process.env.DATA ?? 'orders';
if (data !== 'orders' && data !== 'mixed') {
  console.error(`DATA: expected 'orders' or 'mixed', got '${data}'`);
  process.exit(2);
}
const RECORDS = fileURLToPath(
  new URL(data === 'mixed' ? './workers/mixed.mjs' : './workers/records.mjs', import.meta.url),
);
const LOOP = fileURLToPath(new URL('./workers/ndjson-loop.mjs', import.meta.url));
const [roundsArg, ...builds] = process.argv.slice(2);
const rounds = Number(roundsArg);
if (!(rounds > 0) || builds.length === 0) {
  console.error('usage: node bench/ab-cli.mjs <rounds> <build dir> [<build dir>...]');
  process.exit(2);
}
const task = process.env.TASK ?? (data === 'mixed' ? 'transform' : 'summarize');
const workers = process.env.WORKERS ?? '2';
const dir = mkdtempSync(join(tmpdir(), 'rxpool-ab-'));
let input = process.env.NDJSON;
if (input === undefined) {
  const module = await import(RECORDS);
  const records = data === 'mixed' ? module.mixed : module.records;
  const lines = [];
  for (const record of records(300_000)) lines.push(JSON.stringify(record));
  input = join(dir, 'in.ndjson');
  writeFileSync(input, `${lines.join('\n')}\n`);
}
const out = join(dir, 'out.ndjson');
const size = statSync(input).size;

/** Runs one contender; returns its wall ms and CPU ms. */
function run(args) {
  const stdin = openSync(input, 'r');
  const stdout = openSync(out, 'w');
  const started = performance.now();
  const child = spawnSync('/usr/bin/time', ['-f', '%U %S', process.execPath, ...args], {
    stdio: [stdin, stdout, 'pipe'],
  });
  const ms = performance.now() - started;
  closeSync(stdin);
  closeSync(stdout);
  if (child.status !== 0) throw new Error(`${args.join(' ')}: ${child.stderr}`);
  const [user, system] = child.stderr.toString().trim().split('\n').at(-1).split(' ').map(Number);
  return { ms, cpu: (user + system) * 1000 };
}

const contenders = [
  { name: 'loop', args: [LOOP, task, RECORDS] },
  ...builds.map((build) => ({
    name: build,
    args: [join(resolve(build), 'src/cli/main.js'), 'map', RECORDS, task, '--workers', workers],
  })),
];
const load = [loadavg()[0]];
const samples = new Map(contenders.map((c) => [c.name, { ms: [], cpu: [] }]));
try {
  run(contenders[0].args);
  const expected = readFileSync(out);
  for (let round = 0; round < rounds; round++) {
    for (const { name, args } of round % 2 ? [...contenders].reverse() : contenders) {
      const { ms, cpu } = run(args);
      samples.get(name).ms.push(ms);
      samples.get(name).cpu.push(cpu);
      if (!readFileSync(out).equals(expected)) throw new Error(`${name}: the output differs`);
    }
    load.push(loadavg()[0]);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];
const loop = median(samples.get('loop').ms);
console.log(
  `${rounds} rounds, ${data} (${task}), ${(size / 1e6).toFixed(1)} MB, Node ${process.version}, load average (1 min) ${Math.min(...load).toFixed(2)}-${Math.max(...load).toFixed(2)}`,
);
for (const [name, { ms, cpu }] of samples) {
  const sorted = [...ms].sort((a, b) => a - b);
  console.log(
    `${name}: median ${median(ms).toFixed(0)} ms, fastest ${sorted[0].toFixed(0)}, slowest ${sorted.at(-1).toFixed(0)}, loop / this ${(loop / median(ms)).toFixed(3)}, CPU ${median(cpu).toFixed(0)} ms`,
  );
}

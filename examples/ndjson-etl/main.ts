/**
 * Generates an NDJSON file of orders (some lines bad on purpose), then streams it through parse,
 * validate and enrich on rxpool's workers into an output file, with the bad lines in a rejects
 * file; prints the counts, the time, the throughput and the peak memory (RSS).
 *
 *   node examples/ndjson-etl/start.mjs [--mb 300] [--seed 1] [--input FILE]
 *     [--out examples/ndjson-etl/out] [--window 2048] [--batch 500]
 *
 * (`start.mjs` registers tsx and imports this file; `node --import tsx` on this file works too,
 * with tsx loaded in every worker as well.)
 */
import { mkdirSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { plural } from '../plural.js';
import { runEtl } from './etl.js';
import { generateNdjson } from './generate.js';

const defaultOut = fileURLToPath(new URL('./out', import.meta.url));

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '300' },
    seed: { type: 'string', default: '1' },
    input: { type: 'string' },
    out: { type: 'string', default: defaultOut },
    window: { type: 'string', default: '2048' },
    batch: { type: 'string', default: '500' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log(
    'Usage: node examples/ndjson-etl/start.mjs [--mb N] [--seed N] [--input FILE]\n' +
      '         [--out DIR] [--window LINES] [--batch LINES]\n' +
      'Generates --mb MB of NDJSON into DIR/input.ndjson (or reads --input), and writes\n' +
      'DIR/output.ndjson and DIR/rejects.ndjson.',
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

const window = integer('window', values.window, 1);
const batchSize = integer('batch', values.batch, 1);
const out = resolve(values.out);
mkdirSync(out, { recursive: true });
const shown = (path: string) => {
  const rel = relative(process.cwd(), path);
  return rel.startsWith('..') || isAbsolute(rel) ? path : rel;
};
const number = (n: number) => n.toLocaleString('en-US');
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

let input: string;
if (values.input !== undefined) {
  input = resolve(values.input);
  console.log(`input: ${shown(input)}, ${mb((await stat(input)).size)}`);
} else {
  const size = Number(values.mb);
  if (!(size > 0)) {
    console.error(`--mb must be a number above 0, got '${values.mb}'`);
    process.exit(2);
  }
  const seed = integer('seed', values.seed, 0);
  input = join(out, 'input.ndjson');
  const started = performance.now();
  const made = await generateNdjson(input, { bytes: Math.round(size * 1e6), seed });
  const took = ((performance.now() - started) / 1000).toFixed(2);
  const malformed = made.bad.filter((b) => b.kind === 'malformed').length;
  console.log(
    `input: ${shown(input)}, ${mb(made.bytes)}, ${plural(made.lines, 'line', 'lines', number(made.lines))}, ` +
      `${number(malformed)} not JSON and ${number(made.bad.length - malformed)} invalid ` +
      `(seed ${seed}, made in ${took} s)`,
  );
}

const output = join(out, 'output.ndjson');
const rejects = join(out, 'rejects.ndjson');
const report = await runEtl({ input, output, rejects, window, batchSize });
const seconds = report.ms / 1000;
// ru_maxrss: the most memory the process (all its threads) ever had resident, in KiB.
const peakRss = process.resourceUsage().maxRSS * 1024;

console.log(`workers: ${availableParallelism()} (os.availableParallelism())`);
console.log(
  `lines: ${number(report.linesIn)} in, ${number(report.linesOut)} out, ` +
    `${number(report.rejected)} rejected`,
);
console.log(
  `time: ${seconds.toFixed(2)} s (${(report.bytesIn / 1e6 / seconds).toFixed(1)} MB/s, ` +
    `${number(Math.round(report.linesIn / seconds))} lines/s)`,
);
console.log(`peak RSS: ${(peakRss / 2 ** 20).toFixed(0)} MiB`);
console.log(`output: ${shown(output)}`);
console.log(`rejects: ${shown(rejects)}`);

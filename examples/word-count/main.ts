/**
 * Counts the words of a generated corpus (or of a text file) on rxpool's workers, map in the
 * workers and reduce on the main thread, times it against one thread, and prints the top words.
 *
 *   node --import tsx examples/word-count/main.ts [--mb 64] [--seed 1] [--top 10]
 *     [--corpus examples/word-count/out/corpus.txt] [--file TEXT_FILE]
 */
import { mkdirSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { plural } from '../plural.js';
import { writeCorpus } from './corpus.js';
import {
  fileChunks,
  sameCounts,
  topWords,
  warmUp,
  wordCount,
  wordCountOnOneThread,
} from './word-count.js';

const defaultCorpus = fileURLToPath(new URL('./out/corpus.txt', import.meta.url));

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '64' },
    seed: { type: 'string', default: '1' },
    top: { type: 'string', default: '10' },
    corpus: { type: 'string', default: defaultCorpus },
    file: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log(
    'Usage: node --import tsx examples/word-count/main.ts [--mb N] [--seed N] [--top N]\n' +
      '         [--corpus FILE] [--file TEXT_FILE]\n' +
      'Generates a corpus of --mb MB into --corpus and counts it, or counts --file instead.',
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

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const shown = (path: string) => {
  const rel = relative(process.cwd(), path);
  return rel.startsWith('..') || isAbsolute(rel) ? path : rel;
};
const top = integer('top', values.top, 1);

let path: string;
if (values.file !== undefined) {
  path = resolve(values.file);
  const { size } = await stat(path);
  console.log(`text: ${shown(path)}, ${(size / 1e6).toFixed(1)} MB`);
} else {
  const mb = Number(values.mb);
  if (!(mb > 0)) {
    console.error(`--mb must be a number above 0, got '${values.mb}'`);
    process.exit(2);
  }
  const seed = integer('seed', values.seed, 0);
  path = resolve(values.corpus);
  mkdirSync(dirname(path), { recursive: true });
  const started = performance.now();
  const size = await writeCorpus(path, { bytes: Math.round(mb * 1e6), seed });
  const took = seconds(performance.now() - started);
  console.log(
    `corpus: ${shown(path)}, ${(size / 1e6).toFixed(1)} MB (seed ${seed}, made in ${took})`,
  );
}

let started = performance.now();
const baseline = await wordCountOnOneThread(fileChunks(path));
const oneThreadMs = performance.now() - started;
const startupMs = await warmUp();
started = performance.now();
const result = await wordCount(fileChunks(path));
const rxpoolMs = performance.now() - started;
if (!sameCounts(result.counts, baseline.counts)) {
  throw new Error('The counts from the workers differ from the ones made on one thread');
}

const number = (n: number) => n.toLocaleString('en-US');
console.log(`workers: ${availableParallelism()} (os.availableParallelism())`);
console.log(`one thread: ${seconds(oneThreadMs)}`);
console.log(`worker start-up: ${seconds(startupMs)} (once per process, not counted below)`);
console.log(
  `rxpool: ${seconds(rxpoolMs)} (pool.imap over ${plural(result.chunks, 'chunk')}, merged here)`,
);
console.log(`speedup: ${(oneThreadMs / rxpoolMs).toFixed(2)}x over one thread`);
console.log(`words: ${number(result.words)} (${number(result.counts.size)} distinct)`);
console.log(`top ${top}:`);
const rows = topWords(result.counts, top);
const width = Math.max(...rows.map(([word]) => word.length));
rows.forEach(([word, n], i) => {
  console.log(`${String(i + 1).padStart(4)}. ${word.padEnd(width)}  ${number(n).padStart(12)}`);
});

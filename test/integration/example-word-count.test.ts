/**
 * Smoke test of examples/word-count: the command line counts a small generated corpus and prints
 * the same totals and top words as a plain single-thread count of the whole file; the corpus is
 * the same for the same seed; chunks never cut a word.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { corpusChunks, writeCorpus } from '../../examples/word-count/corpus.js';
import {
  fileChunks,
  sameCounts,
  topWords,
  wordCount,
} from '../../examples/word-count/word-count.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'rxpool-word-count-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The reference: the whole text at once, split on what the corpus puts between words (spaces,
 * newlines, `,` `.` `?`); no regular expression for words, no chunks, no workers.
 */
function countWhole(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const word of text.toLowerCase().split(/[\s,.?]+/)) {
    if (word !== '') counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  return counts;
}

const number = (n: number) => n.toLocaleString('en-US');

test('main.ts prints the totals and top words of a single-thread count of the corpus', async () => {
  const corpus = join(dir, 'corpus.txt');
  const { stdout } = await run(
    process.execPath,
    [
      '--import',
      'tsx',
      'examples/word-count/main.ts',
      '--mb',
      '2',
      '--seed',
      '5',
      '--top',
      '8',
      '--corpus',
      corpus,
    ],
    { cwd: root, timeout: 120_000 },
  );
  const counts = countWhole(readFileSync(corpus, 'utf8'));
  let words = 0;
  for (const n of counts.values()) words += n;
  assert.ok(stdout.includes(`words: ${number(words)} (${number(counts.size)} distinct)`), stdout);
  assert.match(stdout, /^speedup: \d+\.\d\dx over one thread$/m);

  const printed = stdout
    .split('\n')
    .filter((line) => /^ +\d+\. /.test(line))
    .map((line) => {
      const [, word, n] = /^ +\d+\. (\S+) +([\d,]+)$/.exec(line)!;
      return [word, Number(n!.replaceAll(',', ''))];
    });
  assert.deepEqual(printed, topWords(counts, 8));
  assert.equal(printed[0]![0], 'the');
});

test('wordCount on the workers agrees with the single-thread count, word for word', async () => {
  const text = [...corpusChunks({ bytes: 1e6, seed: 9 })].join('');
  // Chunks of about 4 KB: many chunk boundaries, each of which must fall between two words.
  const path = join(dir, 'small.txt');
  writeFileSync(path, text);
  const result = await wordCount(fileChunks(path, 4096));
  assert.ok(result.chunks > 200);
  const expected = countWhole(text);
  assert.ok(sameCounts(result.counts, expected));
  assert.ok(expected.has("don't") && expected.has('i'));
});

test('fileChunks keeps a word longer than a chunk whole', async () => {
  const path = join(dir, 'long-word.txt');
  const long = 'x'.repeat(10_000);
  writeFileSync(path, `a ${long} b\nc`);
  const chunks = [];
  for await (const chunk of fileChunks(path, 1024)) chunks.push(chunk);
  assert.equal(chunks.join(''), `a ${long} b\nc`);
  assert.ok(chunks.every((chunk, i) => i === chunks.length - 1 || /\s$/.test(chunk)));
});

test('the corpus is the same for the same seed, and another for another seed', async () => {
  const a = join(dir, 'a.txt');
  const b = join(dir, 'b.txt');
  const c = join(dir, 'c.txt');
  const size = await writeCorpus(a, { bytes: 200_000, seed: 1 });
  await writeCorpus(b, { bytes: 200_000, seed: 1 });
  await writeCorpus(c, { bytes: 200_000, seed: 2 });
  assert.ok(size >= 200_000 && size < 300_000, `${size}`);
  assert.equal(readFileSync(a, 'utf8'), readFileSync(b, 'utf8'));
  assert.notEqual(readFileSync(a, 'utf8'), readFileSync(c, 'utf8'));
});

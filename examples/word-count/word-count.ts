/**
 * Word count as map/reduce: chunks of a text file are counted in the workers (map, `pool.imap`)
 * and the counts are merged on the main thread as they arrive (reduce). `main.ts` is the command
 * line around it.
 */
import { createReadStream } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { defaultPool, type Pool, task } from 'rxpool';
import { countWords } from './count.js';

/** The default size of the chunks read from the file: large enough to outweigh a message. */
export const CHUNK_BYTES = 1 << 20;

const countTask = task<string, Map<string, number>>(
  new URL('./count.ts', import.meta.url),
  'countWords',
);

/** Counts of words, and their totals. */
export interface WordCounts {
  /** Each word (lower-cased) and how many times it occurs. */
  readonly counts: Map<string, number>;
  /** All words counted. */
  readonly words: number;
  /** How many chunks the text was read in. */
  readonly chunks: number;
}

/**
 * Reads a UTF-8 text file in chunks of about `chunkBytes`, each cut after its last whitespace so
 * that no word is split between two chunks.
 */
export async function* fileChunks(path: string, chunkBytes = CHUNK_BYTES): AsyncGenerator<string> {
  let carry = '';
  for await (const block of createReadStream(path, {
    encoding: 'utf8',
    highWaterMark: chunkBytes,
  })) {
    const text = carry + (block as string);
    let cut = text.length;
    while (cut > 0 && !/\s/.test(text[cut - 1]!)) cut--;
    if (cut === 0) {
      carry = text; // no whitespace yet: one long word, keep reading
      continue;
    }
    carry = text.slice(cut);
    yield text.slice(0, cut);
  }
  if (carry) yield carry;
}

/** Adds `counts` into `into`. */
export function mergeCounts(into: Map<string, number>, counts: Map<string, number>): void {
  for (const [word, n] of counts) into.set(word, (into.get(word) ?? 0) + n);
}

/**
 * Map in the workers, reduce here: counts each chunk on the pool (`pool.imap`, in completion
 * order: a sum does not care) and merges each chunk's counts as it arrives. `pool.imap` reads the
 * chunks only while a few are in flight, so a file of any size is read in constant memory.
 */
export async function wordCount(
  chunks: Iterable<string> | AsyncIterable<string>,
  pool: Pool = defaultPool(),
): Promise<WordCounts> {
  const counts = new Map<string, number>();
  let n = 0;
  // Two chunks per worker: one running, one waiting, so that no worker idles between chunks.
  // Each chunk is plenty of work, so one chunk per message (batchSize: 1).
  const options = { ordered: false, concurrency: 2 * pool.stats().size, batchSize: 1 };
  for await (const chunkCounts of pool.imap(countTask, chunks, options)) {
    mergeCounts(counts, chunkCounts);
    n++;
  }
  return { counts, words: total(counts), chunks: n };
}

/** The same count on this thread alone: the baseline, and what the workers must agree with. */
export async function wordCountOnOneThread(
  chunks: Iterable<string> | AsyncIterable<string>,
): Promise<WordCounts> {
  const counts = new Map<string, number>();
  let n = 0;
  for await (const chunk of chunks) {
    mergeCounts(counts, countWords(chunk));
    n++;
  }
  return { counts, words: total(counts), chunks: n };
}

/**
 * Starts the pool's workers and loads `count.ts` in each (one empty chunk per worker); resolves
 * with the ms it took, which a long-lived program pays once.
 */
export async function warmUp(pool: Pool = defaultPool()): Promise<number> {
  const started = performance.now();
  await pool.map(countTask, new Array<string>(pool.stats().size).fill(''), { batchSize: 1 });
  return performance.now() - started;
}

/** The `n` most frequent words, most frequent first (ties in alphabetical order). */
export function topWords(counts: Map<string, number>, n: number): [string, number][] {
  return [...counts].sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0)).slice(0, n);
}

/** Whether two counts are the same, word for word. */
export function sameCounts(a: Map<string, number>, b: Map<string, number>): boolean {
  if (a.size !== b.size) return false;
  for (const [word, n] of a) if (b.get(word) !== n) return false;
  return true;
}

function total(counts: Map<string, number>): number {
  let sum = 0;
  for (const n of counts.values()) sum += n;
  return sum;
}

/**
 * A deterministic text corpus for the word-count example: English-like sentences whose words are
 * drawn from a fixed vocabulary with Zipf's law (a few words are very common, most are rare), the
 * same text for the same seed. `writeCorpus` streams it to a file in constant memory.
 */
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Options of {@link corpusChunks} and {@link writeCorpus}. */
export interface CorpusOptions {
  /** The size of the text, in bytes (it stops at the first paragraph end past it). */
  readonly bytes: number;
  /** The same seed gives the same text. @default 1 */
  readonly seed?: number;
}

/** The most common words first, as in English text; a few have apostrophes or capitals. */
// biome-ignore format: a word list reads better packed
const COMMON = [
  'the', 'of', 'and', 'to', 'a', 'in', 'is', 'it', 'you', 'that', 'he', 'was', 'for', 'on', 'are',
  'with', 'as', 'I', 'his', 'they', 'be', 'at', 'one', 'have', 'this', 'from', 'or', 'had', 'by',
  "don't", "it's", 'word', 'but', 'what', 'some', 'we', 'can', 'out', 'other', 'were', 'all',
  'there', 'when', 'up', 'use', 'your', 'how', 'said', 'an', 'each', 'she', 'which', 'do', 'their',
  'time', 'if', 'will', 'way', 'about', 'many', 'then', 'them', "can't", 'would', 'like', 'so',
];

const ONSETS = ['b', 'br', 'c', 'ch', 'd', 'f', 'g', 'gr', 'h', 'k', 'l', 'm', 'n', 'p', 'pl', 'r'];
const MORE_ONSETS = ['s', 'sh', 'st', 't', 'th', 'tr', 'v', 'w', 'z', ''];
const VOWELS = ['a', 'e', 'i', 'o', 'u', 'ai', 'ea', 'ou', 'y'];
const CODAS = ['', '', 'n', 'r', 's', 't', 'l', 'nd', 'st', 'ck', 'm'];

/** How many words the vocabulary has. */
export const VOCABULARY_SIZE = 20_000;

/** mulberry32: a small, fast 32-bit PRNG; returns floats in [0, 1). */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The vocabulary, most common first: {@link COMMON}, then made-up words of one to four syllables,
 * all different in lower case.
 */
export function vocabulary(): string[] {
  const next = random(0x5eed);
  const pick = (list: readonly string[]) => list[Math.floor(next() * list.length)]!;
  const onsets = [...ONSETS, ...MORE_ONSETS];
  const words = [...COMMON];
  const seen = new Set(COMMON.map((word) => word.toLowerCase()));
  while (words.length < VOCABULARY_SIZE) {
    const syllables = 1 + Math.floor(next() * 4);
    let word = '';
    for (let s = 0; s < syllables; s++) word += pick(onsets) + pick(VOWELS) + pick(CODAS);
    if (!seen.has(word)) {
      seen.add(word);
      words.push(word);
    }
  }
  return words;
}

/**
 * Yields the corpus as chunks of whole paragraphs (about 64 KB each), so that no word is cut
 * between two chunks.
 */
export function* corpusChunks(options: CorpusOptions): Generator<string> {
  const words = vocabulary();
  // Zipf's law with exponent 1: the word of rank r has weight 1/r.
  const cumulative = new Float64Array(words.length);
  let sum = 0;
  for (let r = 0; r < words.length; r++) {
    sum += 1 / (r + 1);
    cumulative[r] = sum;
  }
  const next = random(options.seed ?? 1);
  const word = () => {
    const x = next() * sum;
    let lo = 0;
    let hi = words.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return words[lo]!;
  };

  let written = 0;
  while (written < options.bytes) {
    const parts: string[] = [];
    let size = 0;
    while (size < 65_536) {
      const sentences = 2 + Math.floor(next() * 6);
      let paragraph = '';
      for (let s = 0; s < sentences; s++) {
        const length = 4 + Math.floor(next() * 16);
        const first = word();
        let sentence = first.charAt(0).toUpperCase() + first.slice(1);
        for (let w = 1; w < length; w++) sentence += (next() < 0.07 ? ', ' : ' ') + word();
        paragraph += sentence + (next() < 0.1 ? '? ' : '. ');
      }
      paragraph = `${paragraph.trimEnd()}\n\n`;
      parts.push(paragraph);
      size += paragraph.length;
    }
    const chunk = parts.join('');
    written += Buffer.byteLength(chunk);
    yield chunk;
  }
}

/** Writes the corpus to `path`; resolves with its size in bytes. */
export async function writeCorpus(path: string, options: CorpusOptions): Promise<number> {
  let bytes = 0;
  const counted = (function* () {
    for (const chunk of corpusChunks(options)) {
      bytes += Buffer.byteLength(chunk);
      yield chunk;
    }
  })();
  await pipeline(Readable.from(counted), createWriteStream(path));
  return bytes;
}

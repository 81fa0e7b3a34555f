/**
 * The work that runs in the workers: counts the words of one chunk of text. A plain TypeScript
 * module; `task(new URL('./count.ts', import.meta.url), 'countWords')` names its export, and the
 * single-thread baseline and the smoke test call the same function directly.
 */

/**
 * A word: letters and digits, with inner apostrophes (`don't`, `it's`). Counted in lower case, so
 * `The` and `the` are one word.
 */
export const WORD = /[\p{L}\p{N}]+(?:['’][\p{L}\p{N}]+)*/gu;

/** Counts each word of `text` (lower-cased). */
export function countWords(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const word of text.toLowerCase().match(WORD) ?? []) {
    counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  return counts;
}

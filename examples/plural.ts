/**
 * `1 thread`, `2 threads`: a count with its noun, for the examples' output (`many` for nouns whose
 * plural is not the noun and an s).
 */
export function plural(
  count: number,
  one: string,
  many = `${one}s`,
  shown = String(count),
): string {
  return `${shown} ${count === 1 ? one : many}`;
}

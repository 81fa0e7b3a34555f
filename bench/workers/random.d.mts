/** A small seeded PRNG (mulberry32): the same floats in [0, 1) for the same seed, every run. */
export function random(seed: number): () => number;

/**
 * A small seeded PRNG (mulberry32): the same floats in [0, 1) for the same seed, every run. Plain
 * JavaScript, so that worker-side bench modules (records.mjs) and the TypeScript cases
 * (bench/harness.ts re-exports it) share one copy.
 * @param {number} seed
 * @returns {() => number}
 */
export function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

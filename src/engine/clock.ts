/** Time as the engine sees it: real time, or a test scheduler's virtual time. */
export interface Clock {
  /** Now, in ms. Executors report item start times on the same scale. */
  now(): number;
  /** Calls `fn` after `ms`; returns a function that cancels it. */
  setTimeout(fn: () => void, ms: number): () => void;
}

/** Wall-clock time in ms since the epoch, with sub-millisecond precision. */
export const realClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimeout(fn, ms) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

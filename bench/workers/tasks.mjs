/**
 * The work every contender of the benchmarks runs, in one plain-JS module so that rxpool (through
 * `task()`), tinypool, piscina and the main thread all run the very same functions. tinypool and
 * piscina call the default export.
 */

/** The trivial item: `x * x`. */
export default function square(x) {
  return x * x;
}

/** The CPU-bound item: naive recursive Fibonacci (fib(27) takes a few ms). */
export function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

/**
 * The skewed item: spins for `ms` milliseconds, then counts itself as finished in `shared[0]` (so
 * that the main thread can see how many finished results it has not emitted yet). Returns `ms`.
 */
export function spin({ ms, shared }) {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy: a CPU-bound item of a known duration
  }
  Atomics.add(new Int32Array(shared), 0, 1);
  return ms;
}

/**
 * The faults item: spins for `ms` milliseconds and returns `ms`; or, with `exit`, ends its worker
 * at once (`process.exit`), as a crashing native module or a stray exit would.
 */
export function spinOrExit({ ms, exit }) {
  if (exit) process.exit(1);
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy: a CPU-bound item of a known duration
  }
  return ms;
}

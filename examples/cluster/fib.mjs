// The task module both the producer and the workers name: `rxpool worker ... fib.mjs` serves it.
/** The n-th Fibonacci number, the slow way: CPU work worth sending to another machine. */
export function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

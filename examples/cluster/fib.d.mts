/** Types of ./fib.mjs (plain JavaScript, so that the workers load it as it is). */
export declare function fib(n: number): number;

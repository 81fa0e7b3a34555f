/** The types of `work.mjs`, the task of the example. */

/** Squares `n` inside a span named `square`, a child of the caller's span. */
export default function square(n: number): Promise<number>;

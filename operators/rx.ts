/**
 * The rxjs values the operators use, loaded when an operator is first called rather than when
 * rxpool is imported, so that `import { createPool } from 'rxpool'` costs no rxjs (the Pool does
 * not use it). `rxpool` re-exports the operators from their own files (not from the barrel), so
 * they reach rxjs through here alone.
 *
 * Two ways in, one rxjs:
 * - `rxpool/operators` (operators/index.ts) imports rxjs statically and hands it over with
 *   {@link provideRx}: a bundler follows that import, so a bundled app that imports the operators
 *   from there runs without node_modules.
 * - Otherwise the first operator call loads rxjs with `require`, from where rxpool is installed.
 *   It is the instance the app's own `import 'rxjs'` gets: rxjs 7's `exports` point Node's `node`
 *   condition, for `import` and `require` alike, at its CommonJS build (dist/cjs), so there is no
 *   second copy and `instanceof Observable` holds.
 */
import { createRequire } from 'node:module';
import type * as Rx from 'rxjs';

/** What the operators take from rxjs. */
export type RxParts = Pick<
  typeof Rx,
  'asyncScheduler' | 'filter' | 'map' | 'Observable' | 'pipe' | 'Subscriber' | 'tap'
>;

let parts: RxParts | undefined;

/** Sets the rxjs the operators use, unless one is set already (the first wins: both are one). */
export function provideRx(rx: RxParts): void {
  parts ??= rx;
}

/** The rxjs the operators use, loaded on the first call. */
export function rx(): RxParts {
  if (parts !== undefined) return parts;
  try {
    parts = createRequire(import.meta.url)('rxjs') as RxParts;
  } catch (error) {
    throw new Error(
      "rxpool's operators could not load rxjs: install it (`npm install rxjs`), or, in a bundled " +
        "app, import the operators from 'rxpool/operators', which the bundler follows",
      { cause: error },
    );
  }
  return parts;
}

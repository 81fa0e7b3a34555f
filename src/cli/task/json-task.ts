/**
 * The task that `rxpool map` runs in its workers: a task module like any other, which the worker
 * loads and calls as it would the user's, and which wraps the user's function so that lines of
 * JSON text go in and come out (../work.ts names it). The worker knows nothing of lines.
 *
 * Its URL says which function to wrap: `?module=<url>&export=<name>`, and `&flat` for `--flat`.
 * Each of those is one instance of this module, which imports the user's module once, as it is
 * itself imported: a module that fails to load, or lacks the export, fails this import, and the
 * worker fails the items with why, as for any task module. The exports are the ways to run:
 * `value` and `settle` take a line (./json-lines.ts), `blockFail` and `blockSkip` a block of lines
 * (./json-blocks.ts).
 */
import { importExport } from '../../worker/load.js';
import { type Fn, jsonBlocks } from './json-blocks.js';
import { jsonLines } from './json-lines.js';

const params = new URL(import.meta.url).searchParams;
const module = params.get('module');
const name = params.get('export');
if (module === null || name === null) {
  throw new TypeError(
    `rxpool map's task needs the user's module and export in its URL, got ${import.meta.url}`,
  );
}
const flat = params.has('flat');
// The worker's own loader: the same export lookup and TypeScript support as for any task.
const fn = (await importExport(module, name)) as Fn;

/** A line in, its result's JSON text out. */
export const value = jsonLines(fn, false, flat);
/** A line in, the end of its settled record out (`--on-error settle`). */
export const settle = jsonLines(fn, true, flat);
/** A block of lines in, stopped at its first failed line (`--on-error fail`). */
export const blockFail = jsonBlocks(fn, true, flat);
/** A block of lines in, every line run (`--on-error skip`). */
export const blockSkip = jsonBlocks(fn, false, flat);

/**
 * What a task module exports, looked up inside a worker of a pool with the workers' own lookup
 * (`findExport` in src/wire/exports.ts), so that the command line can name a wrong export before
 * any work runs (`rxpool map`) or refuse it per job (`rxpool worker`).
 */

import type { Pool } from '../pool/pool.js';
import { task } from '../pool/task.js';
import type { ExportCheck } from '../wire/exports.js';

const lookup = task<{ url: string; name: string }, ExportCheck>(
  new URL('../wire/exports.js', import.meta.url),
  'checkExport',
);

/**
 * Imports `url` in a worker of `pool` and says what is wrong with its export `name`, if anything,
 * and which functions the module exports. Rejects with the `TaskError` of the import when the
 * module does not load.
 */
export function inspectExports(pool: Pool, url: string, name: string): Promise<ExportCheck> {
  return pool.run(lookup, { url, name });
}

/** Whether `url` is a TypeScript module, which a worker can import only once it registered tsx. */
export function isTypeScript(url: string): boolean {
  return /\.[cm]?ts$/.test(url);
}

/**
 * The work `rxpool map` sends to its pool: its own task module (./task/json-task.ts), which runs
 * the user's export on lines of JSON text, told by its URL which module and export that is. The
 * pool and its workers run it as any task module.
 */
import type { WorkSpec } from '../wire/work.js';

/**
 * How the task takes its items: a line (`value`, or `settle` for `--on-error settle`), or a
 * block of lines that stops at its first failed line (`blockFail`) or runs them all (`blockSkip`).
 */
export type LineMode = 'value' | 'settle' | 'blockFail' | 'blockSkip';

// This file sits in src/cli/, as the command line's bundle does in dist/src/cli/ (main.js), so
// that the URL holds for both.
const TASK = new URL('./task/json-task.js', import.meta.url);

/** The work that runs export `exportName` of the module at `url` on lines, in `mode`. */
export function lineWork(url: string, exportName: string, mode: LineMode, flat: boolean): WorkSpec {
  const module = new URL(TASK);
  module.searchParams.set('module', url);
  module.searchParams.set('export', exportName);
  if (flat) module.searchParams.set('flat', '');
  return { kind: 'module', url: module.href, name: mode };
}

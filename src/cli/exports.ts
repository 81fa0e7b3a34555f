/**
 * What a task module exports, looked up inside a worker of a pool, so that the command line can
 * name a wrong export before any work runs (`rxpool map`) or refuse it per job (`rxpool worker`).
 * The lookup mirrors the worker's (src/pool/worker.ts): CommonJS exports are found on `default`
 * too.
 */
import type { Pool } from '../index.js';

/** The type of the export `name` (`'undefined'` when there is none), and the function exports. */
export interface ModuleExports {
  readonly type: string;
  readonly functions: readonly string[];
}

/**
 * Imports `url` in a worker of `pool` and says what `name` is there and which functions the
 * module exports. Rejects with the `TaskError` of the import when the module does not load.
 */
export function inspectExports(pool: Pool, url: string, name: string): Promise<ModuleExports> {
  const inspect = async ({ url, name }: { url: string; name: string }) => {
    const namespace: Record<string, any> = await import(url);
    const commonJs = namespace.default;
    const isObject = (value: unknown): boolean => value !== null && typeof value === 'object';
    let found = namespace[name];
    if (name === 'default' && isObject(found)) found = found.default;
    if (found === undefined && name !== 'default' && isObject(commonJs)) found = commonJs[name];
    const functions = Object.keys(namespace).filter((key) => typeof namespace[key] === 'function');
    if (isObject(commonJs)) {
      for (const key of Object.keys(commonJs)) {
        if (typeof commonJs[key] === 'function' && !functions.includes(key)) functions.push(key);
      }
    }
    return { type: typeof found, functions };
  };
  return pool.run(inspect, { url, name });
}

/** Whether `url` is a TypeScript module, which a worker can import only once it registered tsx. */
export function isTypeScript(url: string): boolean {
  return /\.[cm]?ts$/.test(url);
}

/** "its function exports are: a, b" or "it exports no functions". */
export function describeExports(functions: readonly string[]): string {
  return functions.length > 0
    ? `its function exports are: ${functions.join(', ')}`
    : 'it exports no functions';
}

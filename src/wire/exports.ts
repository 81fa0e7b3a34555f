/**
 * Finding a task's function among its module's exports: the one lookup that the workers use to
 * load a `task()` reference, and that `rxpool map` runs in a worker to check the export before it
 * reads any input. It runs on the worker side, so it imports nothing.
 */

/** What {@link findExport} found: the function, or what is wrong, in words. */
export type ExportLookup =
  | { readonly fn: (input: unknown) => unknown; readonly problem?: undefined }
  | { readonly fn?: undefined; readonly problem: string };

/**
 * The function exported as `name` by a module, from its namespace. CommonJS exports are found
 * where Node puts them: `module.exports = { name: fn }` arrives as the default export, and
 * `module.exports = { default: fn }` (CommonJS compiled from `export default`) as a default
 * export whose own `default` is the function. A default export that is a function carrying the
 * others (`module.exports = a; a.b = b`, as piscina's fixtures are written; Node finds no named
 * export in it) is looked up by its own properties only, so that a function's `call` or `bind`
 * is never taken for an export. When there is no such function, `problem` says why
 * (no such export, or an export that is not a function, with its type) and which functions the
 * module does export: `has no export named 'x'; its function exports are: a, b`.
 */
export function findExport(namespace: Record<string, unknown>, name: string): ExportLookup {
  const commonJs = commonJsExports(namespace);
  let found = namespace[name];
  if (name === 'default' && commonJs && Object.hasOwn(commonJs, 'default')) {
    found = commonJs.default;
  }
  if (found === undefined && name !== 'default' && commonJs) {
    // An object's methods may be inherited (an instance of a class); a function's are Function's,
    // and its own `name`, `length` and `prototype` are no exports either.
    found =
      typeof commonJs !== 'function'
        ? commonJs[name]
        : Object.hasOwn(commonJs, name) && !FUNCTION_OWN.has(name)
          ? commonJs[name]
          : undefined;
  }
  if (typeof found === 'function') return { fn: found as (input: unknown) => unknown };
  const problem =
    found === undefined
      ? `has no export named '${name}'`
      : `exports '${name}' as ${kindOf(found)}, not a function`;
  return { problem: `${problem}; ${describeFunctions(functionExports(namespace))}` };
}

/**
 * The names under which a module exports functions, its CommonJS `module.exports` included (a
 * function's own function properties too); a CommonJS default export that is a function
 * (`exports.default = fn`) counts as `default`.
 */
function functionExports(namespace: Record<string, unknown>): string[] {
  const functions = Object.keys(namespace).filter(
    (key) =>
      typeof namespace[key] === 'function' &&
      // Node 23+ also names a CommonJS module's `module.exports` so (the default export, again).
      !(key === 'module.exports' && namespace[key] === namespace.default),
  );
  const commonJs = commonJsExports(namespace);
  if (commonJs) {
    for (const key of Object.keys(commonJs)) {
      if (typeof commonJs[key] === 'function' && !functions.includes(key)) functions.push(key);
    }
  }
  return functions;
}

/** `its function exports are: a, b`, or `it exports no functions`. */
export function describeFunctions(functions: readonly string[]): string {
  return functions.length > 0
    ? `its function exports are: ${functions.join(', ')}`
    : 'it exports no functions';
}

/** What {@link checkExport} found in a module. */
export interface ExportCheck {
  /** What is wrong with the export asked for, in words; `undefined` when it is a function. */
  readonly problem: string | undefined;
  /** The module's function exports (see {@link functionExports}). */
  readonly functions: readonly string[];
}

/**
 * Imports the module at `url` and looks up `name` in it: what the command line (`rxpool map`,
 * `rxpool worker`) runs in a worker, as a `task()` reference to this module, to check a module
 * before any work runs.
 */
export async function checkExport({
  url,
  name,
}: {
  url: string;
  name: string;
}): Promise<ExportCheck> {
  const namespace = (await import(url)) as Record<string, unknown>;
  return { problem: findExport(namespace, name).problem, functions: functionExports(namespace) };
}

/** The own properties every function has (`arguments` and `caller`: a sloppy-mode one's). */
const FUNCTION_OWN = new Set(['name', 'length', 'prototype', 'arguments', 'caller']);

/** A default export that may hold CommonJS exports: an object, or a function that carries them. */
function commonJsExports(namespace: Record<string, unknown>): Record<string, unknown> | undefined {
  const value = namespace.default;
  return (value !== null && typeof value === 'object') || typeof value === 'function'
    ? (value as Record<string, unknown>)
    : undefined;
}

/** `an object`, `an array`, `a number`, `null`... */
function kindOf(value: unknown): string {
  if (value === null) return '`null`';
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

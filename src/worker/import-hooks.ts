/**
 * A module resolution hook (`module.register`) that the worker side registers once it compiles an
 * inline function that calls `import()`: such a function is compiled as a `data:` module, from
 * which Node resolves neither a bare specifier ('some-package') nor a relative one ('./x.js').
 * The main side names the module that passed the function (`WorkSpec.base`), and load.ts writes
 * it into the `data:` URL as a parameter (`;rxpool-base=<URL, encoded>`): an `import()` from
 * that module is resolved as from the caller's module, by Node's own resolution (and any other
 * hooks, tsx's), so it finds what the caller's `import` would.
 *
 * It runs on Node's hooks thread: it imports nothing.
 */

/** The parameter of an inline function's `data:` URL that names the module to resolve from. */
export const BASE_PARAMETER = ';rxpool-base=';

interface ResolveContext {
  readonly parentURL?: string;
  readonly [key: string]: unknown;
}

type NextResolve = (specifier: string, context: ResolveContext) => unknown;

export function resolve(specifier: string, context: ResolveContext, next: NextResolve): unknown {
  const parent = context.parentURL;
  if (parent?.startsWith('data:')) {
    const head = parent.slice(0, parent.indexOf(','));
    const at = head.indexOf(BASE_PARAMETER);
    if (at >= 0) {
      const base = decodeURIComponent(head.slice(at + BASE_PARAMETER.length).split(';')[0]!);
      return next(specifier, { ...context, parentURL: base });
    }
  }
  return next(specifier, context);
}

/**
 * Loading the work in a worker: an inline function from its source text, or a module's export
 * (through the one export lookup, `findExport` in src/wire/exports.ts, which the CLI's module
 * check uses too), with `pool.starmap`'s spreading. Nothing here knows what hosts the worker.
 */
import * as nodeModule from 'node:module';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { describe } from '../wire/error.js';
import { findExport } from '../wire/exports.js';
import type { WorkSpec } from '../wire/work.js';
import type { WorkerContext } from './context.js';
import { BASE_PARAMETER } from './import-hooks.js';

/** A task as the runner calls it: the input, and the worker's context. */
export type Fn = (input: unknown, context: WorkerContext) => unknown;

/** What this worker has loaded, by work: each is loaded once. */
const loaded = new Map<string, Fn | Promise<Fn>>();

/** The function of `spec`: at once once loaded, else a promise. */
export function load(spec: WorkSpec): Fn | Promise<Fn> {
  const named =
    spec.kind === 'inline'
      ? spec.base === undefined
        ? spec.source
        : `${spec.base}|${spec.source}`
      : `${spec.url}#${spec.name}`;
  const key = spec.spread ? `...${named}` : named;
  let entry = loaded.get(key);
  if (entry === undefined) {
    const fn =
      spec.kind === 'inline' ? compile(spec.source, spec.base) : importExport(spec.url, spec.name);
    entry = spec.spread ? fn.then(spreading) : fn;
    loaded.set(key, entry);
    entry.then(
      (fn) => loaded.set(key, fn),
      () => loaded.delete(key),
    );
  }
  return entry;
}

/** Marks the error of a `pool.starmap` item that is not an array: trying again cannot help. */
export class NotArguments extends TypeError {}

/** `fn` called with each input spread as its arguments (`pool.starmap`, Python's `starmap`). */
function spreading(fn: Fn): Fn {
  const call = fn as (...args: unknown[]) => unknown;
  return (args, context) => {
    if (!Array.isArray(args)) {
      const type = args === null ? 'null' : typeof args;
      const shown = typeof args === 'string' ? `'${args}'` : describe(args);
      throw new NotArguments(
        `Expected each item of pool.starmap to be an array of arguments to spread into the call, got \`${shown}\` (${type})`,
      );
    }
    return call(...args, context);
  };
}

async function compile(source: string, base: string | undefined): Promise<Fn> {
  // `__name` is the helper that esbuild (tsx) calls to keep function names; give it one here.
  const module =
    'const __name = (target, value) => Object.defineProperty(target, "name", { value, configurable: true });\n' +
    `export default (${source});`;
  // An `import()` in it resolves from the module that passed it (see ./import-hooks.ts); from a
  // TypeScript module, as under tsx there (`./x.js` finds x.ts).
  if (base !== undefined && /\.[cm]?tsx?$/.test(base)) await registerTypeScript(base);
  const from =
    base !== undefined && hookImports() ? `${BASE_PARAMETER}${encodeURIComponent(base)}` : '';
  const namespace = await import(
    `data:text/javascript${from};charset=utf-8,${encodeURIComponent(module)}`
  );
  return namespace.default as Fn;
}

let hooked: boolean | undefined;

/** Registers ./import-hooks.js in this worker, once; `false` where Node cannot (before 20.6). */
function hookImports(): boolean {
  if (hooked === undefined) {
    const { register } = nodeModule as { register?: (url: URL) => void };
    hooked = typeof register === 'function';
    if (hooked) register!(new URL('./import-hooks.js', import.meta.url));
  }
  return hooked;
}

/**
 * Imports the module at `url` (registering tsx first for a TypeScript module) and finds its
 * export `name`; rejects with what is wrong. Also what a task module that wraps another's
 * function loads it with (`rxpool map`'s, src/cli/task/json-task.ts).
 */
export async function importExport(url: string, name: string): Promise<Fn> {
  if (/\.[cm]?ts$/.test(url)) await registerTypeScript(url);
  let namespace: Record<string, unknown>;
  try {
    namespace = await import(url);
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_UNKNOWN_FILE_EXTENSION') {
      throw new Error(
        `Cannot load the TypeScript task module ${url} in a worker: run the program on Node ` +
          `22.18+, 23.6+ or 24 (which strip types by default; 22.6+ with --experimental-strip-types), ` +
          `or under tsx (node --import tsx) with tsx installed, or compile the module to JavaScript. ` +
          `(${(error as Error).message}${tsxProblem ? `; registering tsx failed: ${tsxProblem}` : ''})`,
      );
    }
    throw error;
  }
  const { fn, problem } = findExport(namespace, name);
  if (!fn) throw new TypeError(`Task module ${url} ${problem}`);
  return fn;
}

let tsxRegistered: Promise<void> | undefined;
let tsxProblem: string | undefined;

/**
 * Node 20 does not hand the main thread's `--import tsx` hooks to worker threads, so before a `.ts`
 * task module is imported (a failed import would be cached), or an inline function passed from
 * one, tsx is registered here too: found from the module's folder, or from the current directory.
 * Where none is found, a Node that strips types itself (`process.features.typescript`: 22.18+,
 * 23.6+, 24) imports the module as it is; tsx, when found, comes first because it also compiles
 * what type stripping refuses (enums, namespaces, parameter properties).
 */
function registerTypeScript(url: string): Promise<void> {
  tsxRegistered ??= (async () => {
    const problems: string[] = [];
    for (const base of [url, pathToFileURL(`${process.cwd()}/`).href]) {
      try {
        const require = createRequire(base);
        const manifestPath = require.resolve('tsx/package.json');
        const manifest = require(manifestPath) as {
          exports: Record<string, { import?: { default?: string } }>;
        };
        const entry = manifest.exports['./esm/api']?.import?.default;
        if (!entry) throw new Error('this tsx has no ./esm/api export');
        const { register } = (await import(new URL(entry, pathToFileURL(manifestPath)).href)) as {
          register: () => unknown;
        };
        register();
        return;
      } catch (error) {
        problems.push((error as Error).message);
      }
    }
    tsxProblem = problems.join('; ');
  })();
  return tsxRegistered;
}

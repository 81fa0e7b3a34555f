import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { WorkSpec } from './messages.js';

const TASK_BRAND = Symbol.for('rxpool.task');

/**
 * A reference to a function exported by a module, to run in the workers (like Python's pickling
 * by reference). Make one with {@link task}.
 */
export class Task<In = unknown, Out = unknown> {
  /** The module's `file:` URL. */
  readonly url: string;
  /** The export to call. */
  readonly exportName: string;
  /** @internal brands the type parameters; never set. */
  declare readonly __signature?: (input: In) => Out;

  /** @internal use {@link task}. */
  constructor(url: string, exportName: string) {
    this.url = url;
    this.exportName = exportName;
    Object.defineProperty(this, TASK_BRAND, { value: true });
  }
}

/** What runs in a worker: a {@link Task} reference or a self-contained inline function. */
export type Work<In, Out> = Task<In, Out> | ((input: In) => Out | Promise<Out>);

/**
 * References a function exported by a module, to run in the workers.
 *
 * The module is imported inside each worker once and cached. `.js`, `.mjs` and `.cjs` modules
 * always work; `.ts` modules work when the program runs under a TypeScript loader such as tsx.
 *
 * ## Example
 * ```ts
 * // square.js: export default (n) => n * n;
 * const square = task<number, number>(new URL('./square.js', import.meta.url));
 * console.log(await pool.run(square, 7));
 * // Output: 49
 * ```
 *
 * @param module A `file:` URL, an absolute path, or a path relative to the current directory.
 * @param exportName The export to call. @default 'default'
 */
export function task<In = any, Out = any>(
  module: string | URL,
  exportName = 'default',
): Task<In, Out> {
  if (typeof exportName !== 'string' || exportName === '') {
    throw new TypeError(
      `Expected \`exportName\` to be a non-empty string, got ${describeValue(exportName)}`,
    );
  }
  let path: string;
  if (module instanceof URL) {
    if (module.protocol !== 'file:') {
      throw new TypeError(`Expected a file: URL for the task module, got ${module.href}`);
    }
    path = fileURLToPath(module);
  } else if (typeof module === 'string' && module !== '') {
    if (module.startsWith('file:')) path = fileURLToPath(module);
    else if (isAbsolute(module) || module.startsWith('./') || module.startsWith('../')) {
      path = resolve(module);
    } else {
      throw new TypeError(
        `Expected the task module to be a path or a file: URL, got '${module}'. A path that is ` +
          "not absolute starts with './' or '../' and is read from the current directory; " +
          "next to your code, use new URL('./module.js', import.meta.url).",
      );
    }
  } else {
    throw new TypeError(
      `Expected the task module to be a path or a file: URL, got ${describeValue(module)}`,
    );
  }
  if (!existsSync(path)) {
    const given = module instanceof URL ? module.href : module;
    throw new Error(
      `Cannot find the task module ${given} (looked at ${path}). Relative paths are read from the ` +
        `current directory (${process.cwd()}); next to your code, use new URL('./module.js', import.meta.url).`,
    );
  }
  return new Task(pathToFileURL(path).href, exportName);
}

/** Whether `value` is a {@link Task}. */
export function isTask(value: unknown): value is Task {
  return typeof value === 'object' && value !== null && (value as any)[TASK_BRAND] === true;
}

const specs = new WeakMap<object, WorkSpec>();

/** The wire form of `work`; throws a clear error for anything that cannot run in a worker. */
export function toWorkSpec(work: unknown, what = '`work`'): WorkSpec {
  if (isTask(work)) return { kind: 'module', url: work.url, name: work.exportName };
  if (typeof work !== 'function') {
    throw new TypeError(
      `Expected ${what} to be a task(module, exportName) or a function, got ${describeValue(work)}`,
    );
  }
  let spec = specs.get(work);
  if (!spec) {
    spec = { kind: 'inline', source: inlineSource(work, what) };
    specs.set(work, spec);
  }
  return spec;
}

function inlineSource(fn: Function, what: string): string {
  const source = Function.prototype.toString.call(fn);
  if (/\{\s*\[native code\]\s*\}\s*$/.test(source)) {
    throw new TypeError(
      `${what} is a built-in or bound function, which cannot be shipped to a worker as source ` +
        'text: write it as a self-contained function, or use task(module, exportName)',
    );
  }
  if (/^class\b/.test(source)) {
    throw new TypeError(`${what} is a class; pass a function`);
  }
  if (compiles(source)) return source;
  // A method written in shorthand (`square(n) { ... }`) is not an expression by itself.
  const method = /^(async\s+)?(\*\s*)?[A-Za-z_$][\w$]*\s*\(/.exec(source);
  if (method) {
    const prefix = method[1] ?? '';
    const rest = source.slice(prefix.length).replace(/^\*\s*/, '');
    const asFunction = `${prefix}function${method[2] ? '*' : ''} ${rest}`;
    if (compiles(asFunction)) return asFunction;
  }
  throw new TypeError(
    `${what} cannot be shipped to a worker as source text: write it as a plain function or ` +
      'arrow function, or use task(module, exportName)',
  );
}

function compiles(source: string): boolean {
  try {
    new Function(`return (${source});`);
    return true;
  } catch {
    return false;
  }
}

/** `value` for an error message: `0 (number)`, `'x' (string)`, `null`. */
export function describeValue(value: unknown): string {
  if (value === null) return '`null`';
  if (value === undefined) return '`undefined`';
  if (typeof value === 'string') return `\`'${value}'\` (string)`;
  if (typeof value === 'function') return `a function (${value.name || 'anonymous'})`;
  if (typeof value === 'object') {
    const name = Object.getPrototypeOf(value)?.constructor?.name ?? 'Object';
    return `an object (${name})`;
  }
  return `\`${String(value)}\` (${typeof value})`;
}

/**
 * What runs in a worker: `task()` references to module exports, inline functions, and their
 * wire form, with the errors that say why a value cannot be shipped.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describeValue } from '../errors.js';
import type { WorkSpec } from '../wire/work.js';

const TASK_BRAND = Symbol.for('rxpool.task');

/**
 * The key under which a {@link Task}'s type carries its type parameters.
 *
 * _Why a `Task<string, number>` is not a `Task<number, string>`._
 *
 * A task is its module's URL and export name at run time; its input, output and state types
 * live only in its type, as the (never set) property of this key. It makes a task whose types do
 * not match the call's a type error. There is nothing to do with it but know why it is there.
 *
 * ## Example
 * ```ts
 * const length = task<string, number>(new URL('./length.js', import.meta.url));
 * // @ts-expect-error the input of `length` is a string
 * await pool.run(length, 42);
 * ```
 */
export const taskSignature: unique symbol = Symbol('rxpool.taskSignature');

/**
 * The second argument of every task: the worker's state, a signal, and which item runs.
 *
 * _What a task knows besides its input: `work(input, context)`._
 *
 * `state` is what the pool's `setup` returned (or resolved to) in this worker, mutable and seen by
 * every later task there (Python's initializer globals). `signal` is aborted when the attempt is
 * no longer wanted (unsubscribe, `timeout`, `destroy()`, an abort by `signal`); a task that then
 * settles within the pool's `abortGrace` keeps its worker. The object is the worker's, reused: it
 * describes the item running while its task runs. A task that takes one argument ignores it.
 *
 * ## Example
 * ```ts
 * const pool = createPool({ setup: () => ({ seen: 0 }) });
 * const count = (word: string, { state, index }: TaskContext<{ seen: number }>) =>
 *   `${index}: ${word} (${++state.seen} on this worker)`;
 * console.log(await pool.run(count, 'hello'));
 * // Output:
 * // 0: hello (1 on this worker)
 * ```
 *
 * @typeParam State The type of `state`: what the pool's `setup` returns.
 */
export interface TaskContext<State = any> {
  /** What the pool's `setup` returned (or resolved to) in this worker; `undefined` without one. */
  state: State;
  /** Aborted when this attempt is no longer wanted; its `reason` says why. */
  readonly signal: AbortSignal;
  /** The worker's `threadId`, or its `pid` under `runtime: 'process'`. */
  readonly workerId: number;
  /** Which attempt of the item this is, from 1 (see the `retry` option). */
  readonly attempt: number;
  /** The item's 0-based position in its source. */
  readonly index: number;
}

/**
 * A reference to a function exported by a module, to run in the workers (like Python's pickling
 * by reference). Make one with {@link task}.
 *
 * _A function named by where it lives, so a worker can import it._
 *
 * Only the module's URL and the export's name travel to the workers; each worker imports the
 * module once and caches it. Unlike an inline function, the task's module can import what it
 * needs and share code with the rest of the program. The type parameters carry the function's
 * input and output types to `parallelMap` and the Pool's methods.
 *
 * ## Example
 * ```ts
 * const square = task<number, number>(new URL('./square.js', import.meta.url));
 * console.log(square.exportName, square.url.startsWith('file:'));
 * // Output:
 * // default true
 * ```
 *
 * @typeParam In The type of the function's input.
 * @typeParam Out The type of its result (or of the promise it returns).
 * @typeParam State The type of its context's `state` (what the pool's `setup` returns).
 */
export class Task<In = unknown, Out = unknown, State = any> {
  /** The module's absolute `file:` URL. */
  readonly url: string;
  /** The export to call: `'default'` unless {@link task} was given another name. */
  readonly exportName: string;
  /** The task's type parameters, for the type checker alone: never set; see {@link taskSignature}. */
  declare readonly [taskSignature]?: (input: In, context: TaskContext<State>) => Out;

  /** @internal use {@link task}. */
  constructor(url: string, exportName: string) {
    this.url = url;
    this.exportName = exportName;
    Object.defineProperty(this, TASK_BRAND, { value: true });
  }
}

/**
 * What runs in a worker: a {@link Task} reference or a self-contained inline function.
 *
 * _The `work` argument of every operator and Pool method._
 *
 * An inline function is shipped to the workers as source text and compiled once per worker, so it
 * cannot close over variables: everything it uses comes from its input or from `import()` inside
 * it. When it reads a variable it does not have in the worker, the item fails with a
 * {@link TaskError} that says so. An `import()` in it resolves a package or a relative path as
 * the module that passed it to rxpool would. It may return a promise, which is awaited in the worker. For
 * anything larger, export the function from a module and pass {@link task}`(module, name)`.
 *
 * ## Example
 * ```ts
 * const inline: Work<number, number> = (n) => n * n;
 * const byReference: Work<string, string> = task(new URL('./hash.js', import.meta.url), 'sha256');
 * console.log(await pool.run(inline, 7));
 * // Output:
 * // 49
 * ```
 *
 * A task is called with a second argument, its {@link TaskContext} (`state`, `signal`, ...),
 * which a function of one argument ignores.
 *
 * @typeParam In The type of an item.
 * @typeParam Out The type of a result, or of the promise the work returns for it.
 * @typeParam State The type of the context's `state` (what the pool's `setup` returns).
 */
export type Work<In, Out, State = any> =
  | Task<In, Out, State>
  | ((input: In, context: TaskContext<State>) => Out | Promise<Out>);

/**
 * An Observable, as a flat task may return one (RxJS's, or any object with a `subscribe` that takes
 * an observer), without naming RxJS here.
 */
export interface SubscribableValues<Out> {
  /** Starts the values: each goes to `next`, then `complete` (or `error`) once. */
  subscribe(observer: {
    next: (value: Out) => void;
    error: (error: unknown) => void;
    complete: () => void;
  }): unknown;
}

/**
 * What a flat task returns for one item (anything RxJS's `from()` takes): an array, a sync or
 * async iterable (what a generator or async generator function returns), or an Observable.
 */
export type FlatResult<Out> =
  | readonly Out[]
  | Iterable<Out>
  | AsyncIterable<Out>
  | SubscribableValues<Out>;

/**
 * What {@link parallelFlatMap}, {@link parallelFlatSettle} and {@link Pool.imapFlat} run: a
 * {@link Work} whose result for an item is many values, which come back while it runs.
 *
 * _The `work` of the flat faces: a generator function, or one that returns an array, an iterable or
 * an Observable._
 *
 * The same rules as {@link Work}: an inline function (a generator function too) must be
 * self-contained, and it gets the same {@link TaskContext} as its second argument.
 *
 * ## Example
 * ```ts
 * const words: FlatWork<string, string> = function* (line) {
 *   for (const word of line.split(' ')) yield word;
 * };
 * ```
 *
 * @typeParam In The type of an item.
 * @typeParam Out The type of one of its values.
 */
export type FlatWork<In, Out, State = any> =
  | Task<In, FlatResult<Out>, State>
  | ((input: In, context: TaskContext<State>) => FlatResult<Out> | Promise<FlatResult<Out>>);

/**
 * What {@link Pool.starmap} runs: a function of several arguments, inline or by {@link task}
 * reference; each item is the array of its arguments.
 *
 * _The `work` of `pool.starmap`: `work(...args)` for each array `args`._
 *
 * The same rules as {@link Work}: an inline function must be self-contained. A task reference's
 * first type parameter is the tuple of arguments: `task<[number, number], number>(url, 'add')`.
 *
 * ## Example
 * ```ts
 * const add: StarWork<[number, number], number> = (a, b) => a + b;
 * console.log(await pool.starmap(add, [[1, 2], [3, 4]]));
 * // Output:
 * // [ 3, 7 ]
 * ```
 *
 * The {@link TaskContext} comes after the arguments: `work(...args, context)`.
 *
 * @typeParam Args The tuple of arguments of one call.
 * @typeParam Out The type of a result, or of the promise the work returns for it.
 * @typeParam State The type of the context's `state` (what the pool's `setup` returns).
 */
export type StarWork<Args extends readonly unknown[], Out, State = any> =
  | Task<Args, Out, State>
  | ((...args: Args) => Out | Promise<Out>)
  | ((...args: [...Args, TaskContext<State>]) => Out | Promise<Out>);

/**
 * References a function exported by a module, to run in the workers.
 *
 * _Name a function by its module and export, so that the workers can import it._
 *
 * The module is imported inside each worker once and cached. `.js`, `.mjs` and `.cjs` modules
 * always work; `.ts` modules work on a Node that strips types (22.18+, 23.6+, 24), or when the
 * program runs under a TypeScript loader such as tsx, because the workers inherit it. A missing file throws at once. A relative path given as a
 * string is read from the current directory; next to your code, use
 * `new URL('./module.js', import.meta.url)`.
 *
 * ## Example
 * ```ts
 * // square.js: export default (n) => n * n;
 * const square = task<number, number>(new URL('./square.js', import.meta.url));
 * console.log(await pool.run(square, 7));
 * // Output:
 * // 49
 * ```
 *
 * @see {@link Work}
 * @param module A `file:` URL, an absolute path, or a path starting with `./` or `../`, read from
 *   the current directory.
 * @param exportName The export to call; `'default'` when not given.
 * @returns A {@link Task} to pass as `work`.
 */
export function task<In = any, Out = any, State = any>(
  module: string | URL,
  exportName = 'default',
): Task<In, Out, State> {
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
  return new Task<In, Out, State>(pathToFileURL(path).href, exportName);
}

/** Whether `value` is a {@link Task}. */
function isTask(value: unknown): value is Task {
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
    const source = inlineSource(work, what);
    // Only a function that imports needs to know where it came from: the stack is read then.
    // From no module file (a REPL, `node -e`), from the current directory, as Node's own eval.
    const base = /\bimport\s*\(/.test(source)
      ? (callerModule() ?? pathToFileURL(join(process.cwd(), '/')).href)
      : undefined;
    spec = base === undefined ? { kind: 'inline', source } : { kind: 'inline', source, base };
    specs.set(work, spec);
  }
  return spec;
}

/** rxpool's own folders (built or not): their frames are not the caller's. */
const OWN = [
  new URL('../', import.meta.url).href,
  new URL('../../operators/', import.meta.url).href,
];

/**
 * The URL of the module that called into rxpool (the first frame of the stack in a file that is
 * not rxpool's), or `undefined` when there is none (a REPL, `eval`).
 */
function callerModule(): string | undefined {
  const { prepareStackTrace, stackTraceLimit } = Error;
  const holder: { stack?: unknown } = {};
  try {
    Error.stackTraceLimit = 50;
    Error.prepareStackTrace = (_, sites) => sites;
    Error.captureStackTrace(holder, callerModule);
    const sites = holder.stack as NodeJS.CallSite[] | undefined;
    for (const site of Array.isArray(sites) ? sites : []) {
      const file = site.getFileName();
      if (!file) continue;
      let url: string;
      if (file.startsWith('file:')) url = file;
      else if (isAbsolute(file)) url = pathToFileURL(file).href;
      else continue;
      if (!OWN.some((own) => url.startsWith(own))) return url;
    }
    return undefined;
  } finally {
    Error.prepareStackTrace = prepareStackTrace;
    Error.stackTraceLimit = stackTraceLimit;
  }
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

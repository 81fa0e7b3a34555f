/**
 * The worker-side runtime: tinypool's handler in every worker. It loads the work (a module export
 * or an inline function's source), runs a batch of items one after the other, keeps each item's
 * result or failure apart, and reports which item is running through shared memory so that the
 * main side can time items, name the one a crash happened under, and cancel a batch it holds.
 * Batches of numbers come and go packed in a `Float64Array`. A thread worker takes its batches on
 * its link (a port it got once from a hello task); a process worker, one tinypool task each.
 *
 * It imports nothing from the main side: only the message types, the pure clone check and the
 * export lookup.
 */

import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { types } from 'node:util';
import { type MessagePort, threadId, workerData } from 'node:worker_threads';
import type { Transferable } from '../types.js';
import { findUncloneable } from './clone.js';
import { findExport } from './exports.js';
import { jsonLines } from './lines.js';
import {
  type BatchRequest,
  type BatchResponse,
  ControlBlock,
  type Hello,
  type HelloReply,
  type LinkBatch,
  type LinkReply,
  MOVE_BRAND,
  type Release,
  ResultList,
  type WireError,
  type WorkSpec,
} from './messages.js';

type Fn = (input: unknown) => unknown;

const isChildProcess = Boolean(
  (process as { __tinypool_state__?: { isChildProcess?: boolean } }).__tinypool_state__
    ?.isChildProcess,
);
const workerId = isChildProcess ? process.pid : threadId;
const loaded = new Map<string, Fn | Promise<Fn>>();
let setupRun: Promise<void> | undefined;
let setupFailure: WireError | undefined;
let itemsRun = 0;
/** The control block the executor shares with every thread worker (tinypool's `workerData[1]`). */
const shared = (Array.isArray(workerData) ? workerData[1] : undefined) as
  | { control: SharedArrayBuffer; slots: number }
  | undefined;
const sharedControl = shared?.control && new ControlBlock(shared.control, shared.slots);
const timeOrigin = performance.timeOrigin;
const now = () => timeOrigin + performance.now();

/** This worker's link (thread runtime), once a {@link Hello} gave it one. */
let link: MessagePort | undefined;
/** Settles the hello task that gave the link, when the main side releases it. */
let releaseLink: (() => void) | undefined;
/** The running of the newest batch that came on the link. */
let previous: Promise<void> = Promise.resolve();

/**
 * Tinypool's handler: runs a batch (process runtime), or answers a {@link Hello} (thread runtime).
 * A batch on the link costs a message each way and nothing more, where a tinypool task also costs
 * its bookkeeping on both sides (tens of microseconds).
 */
export default function handle(request: BatchRequest | Hello): Promise<unknown> {
  if ('hello' in request) return greet(request.hello);
  // A child process's pipe copies everything: runBatch moves no buffers there.
  return runBatch(request).then(({ response }) => response);
}

/** Takes `port` as this worker's link if it has none; settles once the main side releases it. */
function greet(port: MessagePort): Promise<void> {
  return new Promise((resolve) => {
    const adopted = link === undefined;
    if (adopted) {
      link = port;
      releaseLink = resolve;
      port.on('message', (message: LinkBatch | Release) => {
        if ('release' in message) {
          releaseLink?.();
          releaseLink = undefined;
        } else {
          run(port, message);
        }
      });
    } else {
      port.once('message', () => {
        port.close();
        resolve();
      });
    }
    port.postMessage({ threadId: workerId, adopted } satisfies HelloReply);
  });
}

/**
 * Whether the event loop has turned since the last batch started. Node delivers a port's messages
 * in one loop, up to 1,000 at a time, for as long as more are waiting: a link that the main side
 * keeps two batches deep would hold this worker in that loop batch after batch, and its other
 * port, tinypool's, would go unread for seconds (a hello that every worker must answer before a
 * worker that replaces a dead one gets its link: recovery stalled until every worker had died).
 */
let turned = true;

function turn(): void {
  turned = true;
}

/**
 * Runs the batches of the link one after the other, in the order they came, and answers each as
 * soon as it ends (before the next starts, so that a batch that never ends holds no other's reply).
 * A batch that follows another at once lets the event loop turn first (see `turned`).
 */
function run(port: MessagePort, batch: LinkBatch): void {
  previous = previous.then(async () => {
    if (!turned) await new Promise(setImmediate);
    turned = false;
    setImmediate(turn);
    let reply: LinkReply;
    let transferList: Transferable[] | undefined;
    try {
      const ran = await runBatch(batch);
      reply = { id: batch.id, response: ran.response };
      transferList = ran.transferList;
    } catch (error) {
      // runBatch reports every item's failure itself; this would be a bug in it. The batch fails
      // as a whole, and the link goes on with the next.
      reply = { id: batch.id, broken: serializeError(error, undefined) };
    }
    try {
      port.postMessage(reply, transferList ?? []);
    } catch (error) {
      port.postMessage({
        id: batch.id,
        broken: serializeError(error, undefined),
      } satisfies LinkReply);
    }
  });
}

/** A batch as it runs: what {@link runItems} reads, and what it fills in. */
interface Running {
  readonly fn: Fn;
  readonly inputs: ArrayLike<unknown>;
  readonly work: WorkSpec;
  readonly control: ControlBlock | undefined;
  readonly slot: number;
  readonly timed: boolean;
  readonly maxItems: number;
  readonly values: ResultList;
  failures: (WireError | undefined)[] | null;
  transferList: Transferable[] | undefined;
  retire: boolean;
  /** What the item at the position `runItems` returned gave: a promise, to be awaited. */
  pending: PromiseLike<unknown> | undefined;
}

/** Runs one batch. Never throws for an item: failures are reported per item. */
async function runBatch(
  request: BatchRequest,
): Promise<{ response: BatchResponse; transferList: Transferable[] | undefined }> {
  const { inputs } = request;
  const ref = request.control;
  const control = ref && (ref.buffer ? new ControlBlock(ref.buffer, 1) : sharedControl);
  const slot = ref?.slot ?? 0;
  control?.took(slot, workerId);
  const n = inputs.length;
  const start = now();

  let fn: Fn | undefined;
  let loadFailure: WireError | undefined;
  if (request.setup) {
    setupRun ??= runSetup(request.setup);
    await setupRun;
  }
  if (setupFailure) {
    loadFailure = setupFailure;
  } else {
    try {
      const entry = load(request.work);
      fn = typeof entry === 'function' ? entry : await entry;
    } catch (error) {
      loadFailure = { ...serializeError(error, request.work), fatal: 'load' };
    }
  }

  const results = new ResultList(n);
  let failures: (WireError | undefined)[] | null = null;
  let transferList: Transferable[] | undefined;
  let retire = setupFailure !== undefined;
  let count = 0;
  if (loadFailure !== undefined || fn === undefined) {
    // Nothing can run: every item fails with why.
    failures = new Array(n).fill(loadFailure);
    count = n;
  } else {
    const run: Running = {
      fn,
      inputs,
      work: request.work,
      control,
      slot,
      timed: request.timed,
      maxItems: request.maxItems,
      values: results,
      failures: null,
      transferList: undefined,
      retire,
      pending: undefined,
    };
    // Synchronous items run in one plain loop; an item that returns a promise is awaited here,
    // and the loop goes on after it.
    for (;;) {
      count = runItems(run, count);
      const pending = run.pending;
      if (pending === undefined) break;
      run.pending = undefined;
      try {
        keep(run, count, await pending);
      } catch (error) {
        fail(run, count, error);
      }
      count++;
    }
    ({ failures, transferList, retire } = run);
  }
  control?.moveTo(slot, n);
  const { values, buffer } = results.take(count);
  if (buffer && !isChildProcess) {
    transferList ??= [];
    transferList.push(buffer);
  }

  const response: BatchResponse = {
    values,
    failures,
    count,
    ms: now() - start,
    startedAt: start,
    retire,
    workerId,
  };
  return { response, transferList };
}

/**
 * Runs the items of a batch from position `from` on, until the batch ends, is cancelled, or the
 * worker has run its `maxItems`; or until an item returns a promise, which it leaves in
 * `run.pending`. Returns the position it stopped at (the items before it have run).
 */
function runItems(run: Running, from: number): number {
  const { fn, inputs, control, slot, timed, maxItems, values } = run;
  const n = inputs.length;
  let count = from;
  for (; count < n; count++) {
    if (maxItems > 0 && itemsRun >= maxItems) {
      run.retire = true;
      break;
    }
    if (control) {
      // Cancelled while it waited in this worker's queue: it goes unrun. (Once it runs, a cancel
      // stops this worker; looking now and then only spares the work until that lands.)
      if ((count === from || (count & 63) === 0) && control.cancelled(slot)) break;
      if (timed || count === 0) control.running(slot, count, now());
      else control.moveTo(slot, count);
    }
    itemsRun++;
    let value: unknown;
    try {
      value = fn(inputs[count]);
      if (typeof value === 'number') {
        values.set(count, value);
        continue;
      }
      if (
        value !== null &&
        typeof value === 'object' &&
        typeof (value as any).then === 'function'
      ) {
        run.pending = value as PromiseLike<unknown>;
        return count;
      }
      keep(run, count, value);
    } catch (error) {
      fail(run, count, error);
    }
  }
  return count;
}

/** Keeps an item's result: its `move()` list joins the batch's, and it must be cloneable. */
function keep(run: Running, at: number, value: unknown): void {
  if (value !== null && typeof value === 'object' && MOVE_BRAND in value) {
    const list = (value as Record<symbol, Transferable[]>)[MOVE_BRAND]!;
    delete (value as Record<symbol, unknown>)[MOVE_BRAND];
    if (!isChildProcess) {
      run.transferList ??= [];
      run.transferList.push(...list);
    }
  }
  const problem = findUncloneable(value, 'the result');
  if (problem) {
    run.failures ??= new Array(run.inputs.length);
    run.failures[at] = cloneFailure(problem);
  } else {
    run.values.set(at, value);
  }
}

function fail(run: Running, at: number, error: unknown): void {
  run.failures ??= new Array(run.inputs.length);
  run.failures[at] =
    error instanceof NotArguments
      ? { ...serializeError(error, undefined), fatal: 'arguments' }
      : serializeError(error, run.work);
}

async function runSetup(spec: WorkSpec): Promise<void> {
  try {
    const setup = await load(spec);
    await setup(undefined);
  } catch (error) {
    const cause = serializeError(error, spec);
    setupFailure = {
      ...cause,
      name: 'SetupError',
      message: `The pool's setup task failed in this worker, so it runs no items: ${cause.name}: ${cause.message}`,
      cause,
      fatal: 'setup',
    };
  }
}

function load(spec: WorkSpec): Fn | Promise<Fn> {
  const named = spec.kind === 'inline' ? spec.source : `${spec.url}#${spec.name}`;
  const key = spec.lines ? `${spec.lines}:${named}` : spec.spread ? `...${named}` : named;
  let entry = loaded.get(key);
  if (entry === undefined) {
    const fn = spec.kind === 'inline' ? compile(spec.source) : importExport(spec.url, spec.name);
    entry = spec.spread ? fn.then(spreading) : fn;
    if (spec.lines) entry = entry.then((f) => jsonLines(f, spec.lines!)); // rxpool map's lines
    loaded.set(key, entry);
    entry.then(
      (fn) => loaded.set(key, fn),
      () => loaded.delete(key),
    );
  }
  return entry;
}

/** Marks the error of a `pool.starmap` item that is not an array: trying again cannot help. */
class NotArguments extends TypeError {}

/** `fn` called with each input spread as its arguments (`pool.starmap`, Python's `starmap`). */
function spreading(fn: Fn): Fn {
  const call = fn as (...args: unknown[]) => unknown;
  return (args) => {
    if (!Array.isArray(args)) {
      const type = args === null ? 'null' : typeof args;
      const shown = typeof args === 'string' ? `'${args}'` : describe(args);
      throw new NotArguments(
        `Expected each item of pool.starmap to be an array of arguments to spread into the call, got \`${shown}\` (${type})`,
      );
    }
    return call(...args);
  };
}

async function compile(source: string): Promise<Fn> {
  // `__name` is the helper that esbuild (tsx) calls to keep function names; give it one here.
  const module =
    'const __name = (target, value) => Object.defineProperty(target, "name", { value, configurable: true });\n' +
    `export default (${source});`;
  const namespace = await import(
    `data:text/javascript;charset=utf-8,${encodeURIComponent(module)}`
  );
  return namespace.default as Fn;
}

async function importExport(url: string, name: string): Promise<Fn> {
  if (/\.[cm]?ts$/.test(url)) await registerTypeScript(url);
  let namespace: Record<string, unknown>;
  try {
    namespace = await import(url);
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_UNKNOWN_FILE_EXTENSION') {
      throw new Error(
        `Cannot load the TypeScript task module ${url} in a worker: run the program under tsx ` +
          `(node --import tsx) with tsx installed, or compile the module to JavaScript. ` +
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
 * task module is imported (a failed import would be cached), tsx is registered here too: found
 * from the module's folder, or from the current directory.
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

function cloneFailure(problem: string): WireError {
  return {
    name: 'DataCloneError',
    message: `${problem}, so it cannot be sent back to the main thread`,
    stack: undefined,
    props: {},
    nonError: false,
    cause: undefined,
    fatal: 'clone',
    hint: undefined,
  };
}

/**
 * Turns what a task threw into a `WireError`. Never throws: a getter that throws, or a thrown value
 * that cannot even be read, must fail the item with a `TaskError`, not the whole batch as a crash.
 */
function serializeError(thrown: unknown, work: WorkSpec | undefined, depth = 0): WireError {
  try {
    return serializeThrown(thrown, work, depth);
  } catch (problem) {
    return {
      name: 'Error',
      message: `The task threw a value that could not be read: ${safeDescribe(problem)}`,
      stack: undefined,
      props: {},
      nonError: !isError(thrown),
      cause: undefined,
      fatal: undefined,
      hint: undefined,
    };
  }
}

function serializeThrown(thrown: unknown, work: WorkSpec | undefined, depth: number): WireError {
  if (!isError(thrown)) {
    const props: Record<string, unknown> = {};
    if (cloneable(thrown)) props.value = thrown;
    return {
      name: 'NonError',
      message: describe(thrown),
      stack: undefined,
      props,
      nonError: true,
      cause: undefined,
      fatal: undefined,
      hint: undefined,
    };
  }
  const props: Record<string, unknown> = {};
  for (const key of Object.keys(thrown)) {
    if (key === 'cause') continue;
    let value: unknown;
    try {
      value = (thrown as unknown as Record<string, unknown>)[key];
    } catch (problem) {
      value = `<reading it threw ${safeDescribe(problem)}>`;
    }
    props[key] = cloneable(value) ? value : describe(value);
  }
  // `code` is part of an error's shape even where it is inherited (DOMException's is a getter).
  if (!('code' in props)) {
    const code = (thrown as { code?: unknown }).code;
    if (typeof code === 'string' || typeof code === 'number') props.code = code;
  }
  const cause = (thrown as { cause?: unknown }).cause;
  return {
    name: String(thrown.name),
    message: String(thrown.message),
    stack: typeof thrown.stack === 'string' ? thrown.stack : undefined,
    props,
    nonError: false,
    cause:
      cause !== undefined && depth < 8 ? serializeError(cause, undefined, depth + 1) : undefined,
    fatal: undefined,
    hint: work?.kind === 'inline' ? inlineHint(thrown) : undefined,
  };
}

/** An `Error`, including one made in another realm (a `vm` context), where `instanceof` fails. */
function isError(value: unknown): value is Error {
  return value instanceof Error || types.isNativeError(value);
}

/** Whether `value` can cross by structured clone; `false` too when looking at it throws. */
function cloneable(value: unknown): boolean {
  try {
    return findUncloneable(value) === undefined;
  } catch {
    return false;
  }
}

/** `describe`, for a value that may throw when read. */
function safeDescribe(value: unknown): string {
  try {
    return isError(value) ? `${value.name}: ${value.message}` : describe(value);
  } catch {
    return 'a value that cannot be described';
  }
}

function inlineHint(error: Error): string | undefined {
  if (!(error instanceof ReferenceError)) return undefined;
  const match = /^(\S+) is not defined/.exec(error.message);
  if (!match) return undefined;
  return (
    `\`${match[1]}\` does not exist in the worker. An inline function is shipped to the workers as ` +
    'source text, so it cannot read variables, imports or functions from the code around it. ' +
    'Pass what it needs in its input, or export the function from a module and use ' +
    "task(new URL('./module.js', import.meta.url), 'name')."
  );
}

function describe(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    try {
      return String(value);
    } catch {
      // An object with no prototype, or one whose toString throws.
      return Object.prototype.toString.call(value);
    }
  }
}

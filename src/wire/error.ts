/**
 * An error on the wire: how a worker (or a remote worker) turns what a task threw into a
 * {@link WireError} that crosses by structured clone or JSON, and how the main side revives it as
 * a real `Error`. Both halves in one file, so that they change together. It imports nothing of
 * the main side: the worker runtime loads it.
 */
import { types } from 'node:util';
import { findUncloneable } from './clone.js';
import type { WireError } from './messages.js';
import type { WorkSpec } from './work.js';

/** A result that cannot be cloned back: trying again cannot help. */
export function cloneFailure(problem: string): WireError {
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
 * Says whether a value (named `path` in a message) may travel as it is (`undefined`), or else
 * what text travels in its place.
 */
export type Carrier = (value: unknown, path: string) => string | undefined;

/**
 * What structured clone carries: within this machine's threads (`shared`), or to a child process,
 * which shares no memory (a `SharedArrayBuffer` cannot go there). A value that cannot go is
 * replaced by a sentence that says why.
 */
export function cloneCarrier(shared: boolean): Carrier {
  return (value, path) => {
    let problem: string | undefined;
    try {
      problem = findUncloneable(value, path, { shared });
    } catch (thrown) {
      problem = `reading ${path} threw ${safeDescribe(thrown)}`;
    }
    return problem === undefined ? undefined : `[cannot be copied: ${problem}]`;
  };
}

const cloneable = cloneCarrier(true);

/**
 * Turns what a task threw into a `WireError`; `carries` says which values may travel as they are
 * (structured clone by default; JSON for a remote worker). Never throws: a getter that throws, or a thrown value
 * that cannot even be read, must fail the item with a `TaskError`, not the whole batch as a crash.
 */
export function serializeError(
  thrown: unknown,
  work: WorkSpec | undefined,
  carries: Carrier = cloneable,
  depth = 0,
): WireError {
  try {
    return serializeThrown(thrown, work, carries, depth);
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

function serializeThrown(
  thrown: unknown,
  work: WorkSpec | undefined,
  carries: Carrier,
  depth: number,
): WireError {
  if (!isError(thrown)) {
    const props: Record<string, unknown> = {};
    if (carries(thrown, 'the thrown value') === undefined) props.value = thrown;
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
    props[key] = carries(value, `the error's ${key}`) ?? value;
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
      cause !== undefined && depth < 8
        ? serializeError(cause, undefined, carries, depth + 1)
        : undefined,
    fatal: undefined,
    hint: work?.kind === 'inline' ? inlineHint(thrown) : undefined,
  };
}

/** An `Error`, including one made in another realm (a `vm` context), where `instanceof` fails. */
function isError(value: unknown): value is Error {
  return value instanceof Error || types.isNativeError(value);
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
    "task(new URL('../worker/module.js', import.meta.url), 'name')."
  );
}

/** A value as text, for a message. */
export function describe(value: unknown): string {
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

// The main side: a wire error back to an `Error`.

/**
 * Rebuilds a worker's error on the main side as a real `Error`: the worker's `name`, `message`,
 * `stack`, `cause`, `code` and other own enumerable properties.
 */
export function reviveError(wire: WireError): Error {
  const error = new Error(wire.message);
  Object.defineProperty(error, 'name', {
    value: wire.name,
    writable: true,
    configurable: true,
    enumerable: false,
  });
  error.stack = wire.stack ?? `${wire.name}: ${wire.message}\n    at <worker>`;
  for (const [key, value] of Object.entries(wire.props)) {
    if (key !== 'name' && key !== 'message' && key !== 'stack') {
      (error as unknown as Record<string, unknown>)[key] = value;
    }
  }
  if (wire.cause) {
    Object.defineProperty(error, 'cause', {
      value: reviveError(wire.cause),
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
  return error;
}

/**
 * A plain object that the worker host's process runtime made of an error (it spreads own properties and
 * adds `name`, `message`, `stack`), or a string: back to an `Error`.
 */
export function reviveLoose(value: unknown): Error {
  if (value instanceof Error) return value;
  if (value !== null && typeof value === 'object') {
    const { name, message, stack, ...props } = value as Record<string, unknown>;
    return reviveError({
      name: typeof name === 'string' ? name : 'Error',
      message: typeof message === 'string' ? message : String(message),
      stack: typeof stack === 'string' ? stack : undefined,
      props,
      nonError: false,
      cause: undefined,
      fatal: undefined,
      hint: undefined,
    });
  }
  return new Error(String(value));
}

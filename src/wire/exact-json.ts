/**
 * Results as JSON text where JSON gives back exactly what structured clone would: the worker
 * checks each result as it keeps it, and a batch whose results all pass travels as one string
 * that the main side `JSON.parse`s. Parsing records costs the main thread (the bottleneck of a
 * pool of light tasks) about two thirds of reading them out of a structured-clone message
 * (figures: bench/RESULTS.md, case `transport`); a batch with any other result travels as before.
 *
 * Pure, no main-side imports: the worker runs it.
 *
 * A value is JSON-exact when `JSON.parse(JSON.stringify(value))` is what structured clone makes
 * of it, prototypes, `-0` and key order included, and in one batch shared objects too:
 * - `null`, booleans, strings (lone surrogates included: `JSON.stringify` escapes them), and
 *   finite numbers other than `-0`;
 * - arrays whose prototype is `Array.prototype`, without holes or properties besides their
 *   elements, of JSON-exact values;
 * - objects whose prototype is `Object.prototype` or `null` (both come back as plain objects
 *   either way), that are no `Proxy` and hold no internal data (a `Date`, `Map`, `Set`, buffer or
 *   view whose prototype was replaced), whose own enumerable string keys (an own `__proto__`
 *   too: both make it an own key again) hold JSON-exact values;
 * - no object reached twice in the batch (structured clone keeps shared objects shared and cycles
 *   as cycles; JSON copies the one and cannot write the other);
 * - and, for the batch, no `toJSON` on `Object.prototype` or `Array.prototype`.
 *
 * So not: `undefined`, `NaN`, `±Infinity`, `-0`, bigints, symbols, functions, `Date`, `RegExp`,
 * `Map`, `Set`, errors, typed arrays and buffers, boxed primitives, class instances (structured
 * clone makes them plain objects, but JSON calls a `toJSON` of their class), holes. Symbol keys
 * and non-enumerable properties are dropped by both. An own getter is read by the check and again
 * by `JSON.stringify`, as structured clone's path reads it twice (the uncloneable-value check,
 * then the clone). Not told apart: a host object (a `MessagePort`, a `Blob`) whose prototype was
 * replaced by `Object.prototype`, which no check short of cloning it recognizes.
 */

import { types } from 'node:util';

const { getPrototypeOf } = Object;
const objectTag = Object.prototype.toString;

/** The exactness check of one batch's results, in order; `ok` turns false for good at the first that fails. */
export class ExactJson {
  /** Every object met so far in this batch. */
  private readonly seen = new Set<object>();
  /** Every result checked so far is JSON-exact. */
  ok: boolean;

  constructor() {
    // A toJSON that every object or array would inherit changes what JSON writes.
    this.ok = !('toJSON' in Object.prototype) && !('toJSON' in Array.prototype);
  }

  /** Checks one more result; returns {@link ok}. Never throws (a getter that does fails it). */
  add(value: unknown): boolean {
    if (!this.ok) return false;
    try {
      this.ok = exact(value, this.seen);
    } catch {
      this.ok = false;
    }
    return this.ok;
  }

  /** The results as JSON text when every one was exact, else `undefined`. */
  encode(values: readonly unknown[]): string | undefined {
    if (!this.ok) return undefined;
    try {
      return JSON.stringify(values);
    } catch {
      // Too long for a string, or a getter that changed its mind: structured clone takes it.
      return undefined;
    }
  }
}

/** A number that JSON writes and reads back as the same number. */
export function isExactNumber(value: number): boolean {
  return Number.isFinite(value) && (value !== 0 || 1 / value > 0);
}

function exact(value: unknown, seen: Set<object>): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return isExactNumber(value);
    case 'object':
      break;
    default:
      return false;
  }
  if (value === null) return true;
  if (seen.has(value)) return false;
  seen.add(value);
  if (types.isProxy(value)) return false;
  if (Array.isArray(value)) {
    if (getPrototypeOf(value) !== Array.prototype) return false;
    const length = value.length;
    // A hole reads as undefined, which fails.
    for (let i = 0; i < length; i++) if (!exact(value[i], seen)) return false;
    // Structured clone keeps an array's other own properties; JSON writes the elements only.
    return Object.keys(value).length === length;
  }
  const proto = getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  if (
    objectTag.call(value) !== '[object Object]' ||
    types.isMap(value) ||
    types.isSet(value) ||
    types.isAnyArrayBuffer(value) ||
    ArrayBuffer.isView(value) ||
    types.isPromise(value) ||
    types.isWeakMap(value) ||
    types.isWeakSet(value)
  ) {
    return false;
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!exact(record[key], seen)) return false;
  }
  return true;
}

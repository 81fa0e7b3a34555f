/**
 * A flat message's values packed in a typed array when that gives back exactly what structured
 * clone would: values that are all numbers, or records that are all plain objects with the same
 * keys in the same order, each holding a number. The most common stream of small values is one of
 * these (counts, ids, rows of measurements), and structured clone costs a step per value and per
 * key each way (the main side's reading of it most: the main thread shares the cores with the
 * workers), where a typed array is copied or moved in one go and the records are made again from
 * their keys. A message with any other value travels as it is.
 *
 * Pure, no main-side imports: the worker packs, the main side unpacks (before the engine sees the
 * values).
 *
 * A record packs when it is what structured clone would copy as a plain object of its own
 * enumerable string-keyed properties: its prototype is `Object.prototype`, it is no `Proxy`
 * (which structured clone refuses) and holds no internal data (a `Map`, `Set`, buffer, view or
 * promise whose prototype was replaced), it inherits no enumerable key, and it has no own
 * `__proto__` key (which an assignment would not make again). Its keys are read once, in the
 * order structured clone reads them; a getter is read once, as structured clone reads it once.
 * Numbers are exact in a `Float64Array` (`NaN`, `-0`, `±Infinity` too); when every number is an
 * integer that fits 32 bits (and no `-0`), they go in an `Int32Array`, which the main side reads
 * back as small integers, as it would read them out of a structured clone.
 *
 * One difference, on purpose: the same record met twice in a message comes back as two records
 * (structured clone gives one object twice), as it would in two messages: which message a value
 * goes in depends on timing, so no caller can count on it either way. Telling every record of a
 * message apart by identity (a `Set`) gave each an identity hash, and cost more than all the rest
 * of the packing. A record met twice in a row (a generator that yields one object it changes each
 * time) still goes by structured clone, as before.
 */
import { types } from 'node:util';

/** Records of numbers with the same keys, row after row: `cells[i * keys.length + j]` is row i's key j. */
export interface PackedRecords {
  readonly keys: readonly string[];
  readonly cells: Int32Array<ArrayBuffer> | Float64Array<ArrayBuffer>;
}

/** The values of a flat message as they travel. */
export type FlatPayload =
  | readonly unknown[]
  | Int32Array<ArrayBuffer>
  | Float64Array<ArrayBuffer>
  | PackedRecords;

/** Records with more keys than this are not worth the check of their keys. */
const MAX_KEYS = 32;
const EMPTY = 0;
const NUMBERS = 1;
const RECORDS = 2;
const PLAIN = 3;

const { getPrototypeOf } = Object;
const objectProto = Object.prototype;
const objectTag = Object.prototype.toString;

function isInt32(value: number): boolean {
  return (value | 0) === value && (value !== 0 || 1 / value > 0);
}

/** Whether structured clone copies `value` as a plain object of its own enumerable keys. */
function isPlainRecord(value: object): boolean {
  return (
    getPrototypeOf(value) === objectProto &&
    !types.isProxy(value) &&
    objectTag.call(value) === '[object Object]' &&
    !ArrayBuffer.isView(value) &&
    !types.isMap(value) &&
    !types.isSet(value) &&
    !types.isAnyArrayBuffer(value) &&
    !types.isPromise(value) &&
    !types.isWeakMap(value) &&
    !types.isWeakSet(value)
  );
}

/**
 * Packs a message's values as they are gathered, in one pass: {@link add} each value (before it
 * is kept for the plain path too), then {@link take} the packed form, or `undefined` when a value
 * did not fit (the values then travel as they are).
 */
export class ValuePacker {
  private mode = EMPTY;
  private keys: string[] = [];
  private cells = new Float64Array(0);
  private used = 0;
  private ints = true;
  /** The record added last: the same one again makes the message go by structured clone. */
  private last: object | undefined;

  add(value: unknown): void {
    switch (this.mode) {
      case PLAIN:
        return;
      case NUMBERS:
        if (typeof value === 'number') this.put(value);
        else this.mode = PLAIN;
        return;
      case RECORDS:
        if (!this.addRecord(value)) this.mode = PLAIN;
        return;
      default:
        this.first(value);
    }
  }

  /** A value that must travel as it is (one with buffers to move): the message goes plain. */
  plain(): void {
    this.mode = PLAIN;
  }

  /** The packed values, or `undefined`; either way the packer starts over for the next message. */
  take(): Int32Array<ArrayBuffer> | Float64Array<ArrayBuffer> | PackedRecords | undefined {
    const { mode, used, keys } = this;
    this.reset();
    if (mode !== NUMBERS && mode !== RECORDS) return undefined;
    // A copy of its own, which the message may move: the packer's array is used again.
    let cells: Int32Array<ArrayBuffer> | Float64Array<ArrayBuffer>;
    if (this.ints) {
      cells = new Int32Array(used);
      cells.set(this.cells.subarray(0, used));
    } else {
      cells = this.cells.slice(0, used);
    }
    return mode === NUMBERS ? cells : { keys, cells };
  }

  /** Forgets what was added (a new item starts). */
  reset(): void {
    this.mode = EMPTY;
    this.used = 0;
    this.last = undefined;
  }

  private first(value: unknown): void {
    this.ints = true;
    if (typeof value === 'number') {
      this.mode = NUMBERS;
      this.put(value);
      return;
    }
    if (typeof value !== 'object' || value === null || !isPlainRecord(value)) {
      this.mode = PLAIN;
      return;
    }
    const keys = Object.keys(value);
    let inherited = 0;
    for (const _ in value) inherited++;
    if (
      keys.length === 0 ||
      keys.length > MAX_KEYS ||
      inherited !== keys.length ||
      keys.includes('__proto__')
    ) {
      this.mode = PLAIN;
      return;
    }
    this.keys = keys;
    this.mode = RECORDS;
    if (!this.addRecord(value)) this.mode = PLAIN;
  }

  /** Puts a record's numbers in the next row; false when it does not fit the keys. */
  private addRecord(value: unknown): boolean {
    if (typeof value !== 'object' || value === null || !isPlainRecord(value)) return false;
    if (value === this.last) return false;
    this.last = value;
    const { keys } = this;
    const k = keys.length;
    const row = this.used;
    if (row + k > this.cells.length) this.grow(k);
    const cells = this.cells;
    let j = 0;
    // for-in reads the own keys in the order Object.keys gives them (no inherited enumerable key:
    // checked on the first record, whose prototype every other shares).
    for (const key in value) {
      if (j === k || key !== keys[j]) return false;
      const x = (value as Record<string, unknown>)[key];
      if (typeof x !== 'number') return false;
      if (this.ints && !isInt32(x)) this.ints = false;
      cells[row + j++] = x;
    }
    if (j !== k) return false;
    this.used = row + k;
    return true;
  }

  private put(value: number): void {
    if (this.used === this.cells.length) this.grow(1);
    if (this.ints && !isInt32(value)) this.ints = false;
    this.cells[this.used++] = value;
  }

  private grow(least: number): void {
    const next = new Float64Array(Math.max(64, this.cells.length * 2, this.used + least));
    next.set(this.cells.subarray(0, this.used));
    this.cells = next;
  }
}

/** The values of a flat message, as the worker gathered them. */
export function unpackValues(values: FlatPayload): ArrayLike<unknown> {
  if (Array.isArray(values) || ArrayBuffer.isView(values)) return values as ArrayLike<unknown>;
  const { keys, cells } = values as PackedRecords;
  const k = keys.length;
  const n = cells.length / k;
  const out = new Array<unknown>(n);
  for (let i = 0, c = 0; i < n; i++) {
    const record: Record<string, unknown> = {};
    for (let j = 0; j < k; j++) record[keys[j]!] = cells[c++];
    out[i] = record;
  }
  return out;
}

/**
 * For tests of what crosses to a worker: values of every kind structured clone carries, and a
 * deep comparison strict enough for clones: primitives by `Object.is` (-0 is not 0), the same
 * prototypes, the same own keys in the same order, the same internal data (a Date's time, a Map's
 * entries in order, a buffer's bytes...), and the same sharing (an object met twice on one side is
 * one object met twice on the other). Returns where the two differ, or `undefined`.
 */
import { types } from 'node:util';
import fc from 'fast-check';

/** fast-check's `anything` with every kind of value structured clone carries. */
export function anyCloneable(): fc.Arbitrary<unknown> {
  return fc.anything({
    withBigInt: true,
    withBoxedValues: true,
    withDate: true,
    withMap: true,
    withSet: true,
    withNullPrototype: true,
    withObjectString: true,
    withSparseArray: true,
    withTypedArray: true,
    withUnicodeString: true,
  });
}

export function sameClone(a: unknown, b: unknown): string | undefined {
  return compare(a, b, '$', new Map(), new Map());
}

function compare(
  a: unknown,
  b: unknown,
  path: string,
  ab: Map<object, object>,
  ba: Map<object, object>,
): string | undefined {
  if (typeof a !== typeof b) return `${path}: type ${typeof a} / ${typeof b}`;
  if (typeof a !== 'object' || a === null || b === null) {
    return Object.is(a, b) ? undefined : `${path}: value ${String(a)} / ${String(b)}`;
  }
  const x = a as object;
  const y = b as object;
  const seenX = ab.get(x);
  const seenY = ba.get(y);
  if (seenX !== undefined || seenY !== undefined) {
    return seenX === y && seenY === x ? undefined : `${path}: shared objects differ`;
  }
  ab.set(x, y);
  ba.set(y, x);
  if (Object.getPrototypeOf(x) !== Object.getPrototypeOf(y)) return `${path}: prototype`;
  const tag = Object.prototype.toString.call(x);
  if (tag !== Object.prototype.toString.call(y)) return `${path}: tag`;
  if (Array.isArray(x) !== Array.isArray(y)) return `${path}: array / not`;
  const internal = internals(x, y, path, ab, ba);
  if (internal !== undefined) return internal;
  const keysX = Reflect.ownKeys(x);
  const keysY = Reflect.ownKeys(y);
  if (keysX.length !== keysY.length || keysX.some((key, i) => key !== keysY[i])) {
    return `${path}: keys ${keysX.map(String)} / ${keysY.map(String)}`;
  }
  for (const key of keysX) {
    const dx = Object.getOwnPropertyDescriptor(x, key)!;
    const dy = Object.getOwnPropertyDescriptor(y, key)!;
    if (dx.enumerable !== dy.enumerable || dx.writable !== dy.writable) {
      return `${path}.${String(key)}: descriptor`;
    }
    const problem = compare(dx.value, dy.value, `${path}.${String(key)}`, ab, ba);
    if (problem) return problem;
  }
  return undefined;
}

/** What a value holds outside its properties. */
function internals(
  x: object,
  y: object,
  path: string,
  ab: Map<object, object>,
  ba: Map<object, object>,
): string | undefined {
  if (types.isDate(x)) {
    return Object.is(x.getTime(), (y as Date).getTime()) ? undefined : `${path}: value (Date)`;
  }
  if (types.isBoxedPrimitive(x)) {
    return Object.is(x.valueOf(), y.valueOf()) ? undefined : `${path}: value (boxed)`;
  }
  if (types.isRegExp(x)) return String(x) === String(y) ? undefined : `${path}: value (RegExp)`;
  if (types.isMap(x) || types.isSet(x)) {
    const ex = [...(x as Map<unknown, unknown>).entries()];
    const ey = [...(y as Map<unknown, unknown>).entries()];
    if (ex.length !== ey.length) return `${path}: value (size)`;
    for (let i = 0; i < ex.length; i++) {
      const problem =
        compare(ex[i]![0], ey[i]![0], `${path}[entry ${i} key]`, ab, ba) ??
        compare(ex[i]![1], ey[i]![1], `${path}[entry ${i} value]`, ab, ba);
      if (problem) return problem;
    }
    return undefined;
  }
  if (ArrayBuffer.isView(x) || types.isAnyArrayBuffer(x)) {
    const bytes = (v: object) =>
      ArrayBuffer.isView(v)
        ? Buffer.from(v.buffer, v.byteOffset, v.byteLength)
        : Buffer.from(v as ArrayBuffer);
    return bytes(x).equals(bytes(y)) ? undefined : `${path}: value (bytes)`;
  }
  if (types.isNativeError(x)) {
    const ey = y as Error;
    return x.name === ey.name && x.message === ey.message ? undefined : `${path}: value (Error)`;
  }
  return undefined;
}

/**
 * Finds what in a value the structured clone algorithm refuses, and says where it is.
 *
 * Pure, no main-side imports: both sides use it (the worker for results, the main side to name the
 * culprit when an input cannot be sent). Primitives return at once, so the common case costs one
 * `typeof`.
 */

import { types } from 'node:util';

const plainTags = new Set([
  '[object Object]',
  '[object Array]',
  '[object Map]',
  '[object Set]',
  '[object Error]',
]);

const leafTags = new Set([
  '[object Date]',
  '[object RegExp]',
  '[object ArrayBuffer]',
  '[object SharedArrayBuffer]',
  '[object DataView]',
  '[object Boolean]',
  '[object Number]',
  '[object String]',
  '[object BigInt]',
  '[object Blob]',
  '[object File]',
]);

/**
 * Returns a sentence naming the first part of `value` that cannot be cloned, or `undefined` when
 * every part can. `path` is how the value is named in the sentence (`input`, `result`). With
 * `shared: false` (a value for a child process, which shares no memory), a `SharedArrayBuffer`
 * cannot be cloned either. Throws what a getter of `value` throws.
 */
export function findUncloneable(
  value: unknown,
  path = 'value',
  { shared = true }: { shared?: boolean } = {},
): string | undefined {
  const type = typeof value;
  if (type !== 'object' && type !== 'function' && type !== 'symbol') return undefined;
  return walk(value, path, new Set(), shared);
}

function walk(
  value: unknown,
  path: string,
  seen: Set<object>,
  shared: boolean,
): string | undefined {
  const type = typeof value;
  if (type === 'function') {
    const name = (value as { name?: string }).name;
    return `${path} is a function${name ? ` (${name})` : ''}, and functions cannot be cloned`;
  }
  if (type === 'symbol') return `${path} is a symbol, and symbols cannot be cloned`;
  if (type !== 'object' || value === null) return undefined;
  const object = value as object;
  if (seen.has(object)) return undefined;
  seen.add(object);
  // A Proxy looks like what it wraps, but structured clone refuses it.
  if (types.isProxy(object)) return `${path} is a Proxy, and proxies cannot be cloned`;
  // A view on one is copied to a child process, as the pipe's serializer writes views by value.
  if (!shared && types.isSharedArrayBuffer(object)) {
    return `${path} is a SharedArrayBuffer, and a child process (runtime: 'process') shares no memory`;
  }
  if (ArrayBuffer.isView(object)) return undefined;
  const tag = Object.prototype.toString.call(object);
  if (leafTags.has(tag)) return undefined;
  if (object instanceof Promise)
    return `${path} is a Promise, which cannot be cloned: await it first`;
  if (object instanceof WeakMap || object instanceof WeakSet) {
    return `${path} is a ${tag.slice(8, -1)}, which cannot be cloned`;
  }
  if (object instanceof Map) {
    let i = 0;
    for (const [key, item] of object) {
      const problem =
        walk(key, `${path}.keys()[${i}]`, seen, shared) ??
        walk(item, `${path}.get(${label(key)})`, seen, shared);
      if (problem) return problem;
      i++;
    }
    return undefined;
  }
  if (object instanceof Set) {
    let i = 0;
    for (const item of object) {
      const problem = walk(item, `${path}.values()[${i}]`, seen, shared);
      if (problem) return problem;
      i++;
    }
    return undefined;
  }
  if (!plainTags.has(tag) && !(object instanceof Error)) {
    // Host objects (sockets, handles, ports not in a transfer list): let the real algorithm judge.
    try {
      structuredClone(object);
      return undefined;
    } catch (error) {
      return `${path} (${tag.slice(8, -1)}) cannot be cloned: ${(error as Error).message}`;
    }
  }
  const isArray = Array.isArray(object);
  for (const key of Object.keys(object)) {
    const child = isArray ? `${path}[${key}]` : `${path}.${key}`;
    const problem = walk((object as Record<string, unknown>)[key], child, seen, shared);
    if (problem) return problem;
  }
  return undefined;
}

function label(key: unknown): string {
  return typeof key === 'string' ? JSON.stringify(key) : String(key);
}

/**
 * The packed values of flat messages (src/wire/flat-pack.ts): what the packer lets through comes
 * back, once copied (structured clone for threads, the V8 serializer for processes) and unpacked,
 * exactly as structured clone gives back each value: prototypes, -0 and key order included (a
 * record met twice comes back as two, as in two messages); and streams of numbers or of records
 * of numbers do take the path.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import v8 from 'node:v8';
import fc from 'fast-check';
import {
  type FlatPayload,
  type PackedRecords,
  unpackValues,
  ValuePacker,
} from '../../src/wire/flat-pack.js';
import { anyCloneable, sameClone } from '../support/same-clone.js';

/** The values as one message carries them: packed when the packer lets them all through. */
function pack(values: readonly unknown[]): FlatPayload | undefined {
  const packer = new ValuePacker();
  for (const value of values) packer.add(value);
  return packer.take();
}

const v8Clone = <T>(value: T): T => v8.deserialize(v8.serialize(value));
const shared = { a: 1 };
const number = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(-0, 0, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31, -(2 ** 31), 0.5),
);
const special = fc.constantFrom<unknown>(
  shared,
  Object.create(null),
  JSON.parse('{"__proto__": 1, "a": 2}'),
  JSON.parse('{"2": 0, "b": 0, "1": 0}'),
  { a: 1, b: 'x' },
  { a: 1n },
  new (class Point {
    a = 1;
  })(),
  Object.setPrototypeOf(Object.assign(new Map(), { a: 1 }), Object.prototype),
  Object.setPrototypeOf(Object.assign(new Set(), { a: 1 }), Object.prototype),
  Object.setPrototypeOf(Object.assign(new Uint8Array(2), { a: 1 }), Object.prototype),
  Object.setPrototypeOf(Object.assign(new ArrayBuffer(2), { a: 1 }), Object.prototype),
  Object.setPrototypeOf(Object.assign(new Date(0), { a: 1 }), Object.prototype),
  new Proxy({ a: 1 }, {}),
  Object.defineProperty({ a: 1 }, 'hidden', { value: 2, enumerable: false }),
  Object.defineProperty({}, 'a', { get: () => 3, enumerable: true }),
  { [Symbol('s')]: 1, a: 2 },
  Object.create({ inherited: 1 }, { a: { value: 1, enumerable: true } }),
  'a string',
  null,
  undefined,
  [1, 2],
);
/** Records of numbers over a few keys (so that many share theirs), and what is not one. */
const record = fc
  .array(fc.tuple(fc.constantFrom('a', 'b', '1', '10', '__proto__'), number), { maxLength: 3 })
  .map((entries) => {
    const out: Record<string, number> = {};
    for (const [key, value] of entries)
      Object.defineProperty(out, key, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    return out;
  });
const value = fc.oneof(number, record, special, anyCloneable());

describe('packed values of flat messages (src/wire/flat-pack.ts)', () => {
  it('what is packed comes back as structured clone and the V8 serializer give it', () => {
    let packed = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.array(value, { maxLength: 6 }),
          fc.array(number, { maxLength: 6 }),
          fc.array(record, { maxLength: 6 }),
          // The same record twice, or with others of its keys.
          fc.array(fc.oneof(record, fc.constant(shared)), { maxLength: 6 }),
        ),
        (values) => {
          const payload = pack(values);
          if (payload === undefined) return;
          packed++;
          const out = (via: (p: FlatPayload) => FlatPayload) =>
            Array.from(unpackValues(via(payload)));
          // Each value as structured clone gives it alone.
          const each = (clone: (value: unknown) => unknown) => values.map((v) => clone(v));
          assert.equal(sameClone(out(structuredClone), each(structuredClone)), undefined);
          assert.equal(sameClone(out(v8Clone), each(v8Clone)), undefined);
        },
      ),
      { numRuns: 5000 },
    );
    assert.ok(packed > 500, `only ${packed} messages were packed`);
  });

  it('numbers, and records of numbers with the same keys, take the path', () => {
    const ints = pack([1, 2, 3]);
    assert.ok(ints instanceof Int32Array, 'small integers: an Int32Array');
    assert.ok(pack([1, 2.5, -0]) instanceof Float64Array, 'other numbers: a Float64Array');
    const rows = Array.from({ length: 200 }, (_, i) => ({ item: 7, i, v: (i * 7) % 1000 }));
    const payload = pack(rows);
    assert.ok(payload !== undefined && !Array.isArray(payload) && !ArrayBuffer.isView(payload));
    const { keys, cells } = payload as PackedRecords;
    assert.deepEqual(keys, ['item', 'i', 'v']);
    assert.ok(cells instanceof Int32Array);
    assert.equal(sameClone(Array.from(unpackValues(structuredClone(payload))), rows), undefined);
  });

  it('what a record of numbers cannot give back goes by structured clone', () => {
    const same = { a: 1 };
    const refused: [string, unknown[]][] = [
      ['no value', []],
      ['a string', [{ a: 1 }, { a: 'x' }]],
      ['numbers and a record', [1, { a: 1 }]],
      ['other keys', [{ a: 1 }, { b: 1 }]],
      [
        'the same keys in another order',
        [
          { a: 1, b: 2 },
          { b: 2, a: 1 },
        ],
      ],
      ['a key more', [{ a: 1 }, { a: 1, b: 2 }]],
      ['a key less', [{ a: 1, b: 2 }, { a: 1 }]],
      ['no key', [{}]],
      ['an object twice in a row', [same, same]],
      ['an own __proto__', [JSON.parse('{"__proto__": 1}')]],
      ['a null prototype', [Object.assign(Object.create(null), { a: 1 })]],
      [
        'a class instance',
        [
          new (class A {
            a = 1;
          })(),
        ],
      ],
      [
        'an inherited enumerable key',
        [Object.create({ b: 1 }, { a: { value: 1, enumerable: true } })],
      ],
      ['a Proxy', [new Proxy({ a: 1 }, {})]],
      [
        'a Map with Object.prototype',
        [Object.setPrototypeOf(Object.assign(new Map(), { a: 1 }), Object.prototype)],
      ],
      [
        'a Set with Object.prototype',
        [Object.setPrototypeOf(Object.assign(new Set(), { a: 1 }), Object.prototype)],
      ],
      [
        'a view with Object.prototype',
        [Object.setPrototypeOf(new Uint8Array(1), Object.prototype)],
      ],
      [
        'a promise with Object.prototype',
        [Object.setPrototypeOf(Object.assign(Promise.resolve(), { a: 1 }), Object.prototype)],
      ],
      [
        'a Date with Object.prototype',
        [Object.setPrototypeOf(Object.assign(new Date(0), { a: 1 }), Object.prototype)],
      ],
      ['a bigint', [{ a: 1n }]],
      ['a nested record', [{ a: { b: 1 } }]],
    ];
    for (const [what, values] of refused) assert.equal(pack(values), undefined, what);
  });

  it('a record met again later in a message comes back as a record of its own', () => {
    const same = { a: 1, b: 2 };
    const payload = pack([same, { a: 3, b: 4 }, same]);
    assert.ok(payload !== undefined, 'not packed');
    const out = Array.from(unpackValues(structuredClone(payload))) as object[];
    assert.deepEqual(out, [same, { a: 3, b: 4 }, same]);
    assert.notEqual(out[0], out[2]);
  });

  it('after a message it starts over: the next one is packed on its own', () => {
    const packer = new ValuePacker();
    packer.add({ a: 1 });
    packer.add('x');
    assert.equal(packer.take(), undefined);
    packer.add(5);
    assert.deepEqual(Array.from(packer.take() as Int32Array), [5]);
    packer.add({ a: 1 });
    packer.reset();
    packer.add({ b: 2 });
    const { keys, cells } = packer.take() as { keys: string[]; cells: Int32Array };
    assert.deepEqual([keys, Array.from(cells)], [['b'], [2]]);
  });
});

/**
 * The JSON path of results (src/wire/exact-json.ts): a batch that the check lets through comes
 * back from JSON exactly as structured clone (thread runtime) and the V8 serializer (the process
 * runtime's pipe) give it back: prototypes, -0, key order and shared objects included; and plain
 * JSON data does take the path.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import v8 from 'node:v8';
import fc from 'fast-check';
import { ExactJson } from '../../src/wire/exact-json.js';
import { anyCloneable, sameClone } from '../support/same-clone.js';

/** The batch's JSON text when the check lets every value through, else undefined. */
function encode(values: readonly unknown[]): string | undefined {
  const check = new ExactJson();
  for (const value of values) check.add(value);
  return check.encode(values);
}

const v8Clone = (value: unknown) => v8.deserialize(v8.serialize(value));

/** Values made of parts JSON keeps and parts it does not. */
const shared = { shared: true };
const special = fc.constantFrom<unknown>(
  undefined,
  -0,
  0,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.MIN_VALUE,
  Number.MAX_SAFE_INTEGER + 2,
  '\ud800',
  '__proto__',
  shared,
  [shared],
  Object.create(null),
  JSON.parse('{"__proto__": 1, "2": 0, "b": 0, "1": 0}'),
  Object.assign([1, 2], { extra: 3 }),
  // biome-ignore lint/suspicious/noSparseArray: a hole is what is tested
  [1, , 3],
  new (class Point {
    x = 1;
  })(),
  { toJSON: 'not a function', a: 1 },
  Object.setPrototypeOf(new Date(0), Object.prototype),
  Object.setPrototypeOf(new Map([[1, 2]]), Object.prototype),
  Object.setPrototypeOf(new Uint8Array(2), Object.prototype),
  new Proxy({ a: 1 }, {}),
  Object.defineProperty({ a: 1 }, 'hidden', { value: 2, enumerable: false }),
  { [Symbol('s')]: 1, a: 2 },
);
const value = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    anyCloneable(),
    special,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('1', '10', '__proto__')), tie('value'), {
      maxKeys: 4,
    }),
  ),
})).value;

/** JSON data: everything fc.jsonValue makes, -0 aside (JSON cannot write it). */
const jsonData = fc
  .jsonValue()
  .map((v) => JSON.parse(JSON.stringify(v, (_key, x) => (Object.is(x, -0) ? 0 : x))));

describe('results as JSON text (src/wire/exact-json.ts)', () => {
  it('a batch let through comes back as structured clone and the V8 serializer give it', () => {
    let through = 0;
    fc.assert(
      // One object, often met more than once in a batch.
      fc.property(fc.array(fc.oneof(value, fc.constant(shared)), { maxLength: 6 }), (values) => {
        const text = encode(values);
        if (text === undefined) return;
        through++;
        const parsed = JSON.parse(text);
        assert.equal(sameClone(parsed, structuredClone(values)), undefined);
        assert.equal(sameClone(parsed, v8Clone(values)), undefined);
      }),
      { numRuns: 3000 },
    );
    // The property means something only if batches went through.
    assert.ok(through > 100, `only ${through} batches went through`);
  });

  it('JSON data takes the path', () => {
    fc.assert(
      fc.property(fc.array(jsonData, { maxLength: 6 }), (values) => {
        const text = encode(values);
        assert.notEqual(text, undefined);
        assert.equal(sameClone(JSON.parse(text!), structuredClone(values)), undefined);
      }),
      { numRuns: 1000 },
    );
  });

  it('records like the bench case take the path', () => {
    const records = Array.from({ length: 100 }, (_, id) => ({
      id,
      user: { name: `n${id}`, tags: ['a', 'b'] },
      amount: id / 7,
      ok: id % 2 === 0,
      none: null,
    }));
    assert.notEqual(encode(records), undefined);
  });

  it('what JSON would change goes by structured clone', () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const same = { a: 1 };
    const refused: [string, unknown[]][] = [
      ['undefined', [undefined]],
      ['-0', [{ n: -0 }]],
      ['NaN', [[Number.NaN]]],
      ['Infinity', [Number.NEGATIVE_INFINITY]],
      ['a bigint', [{ n: 1n }]],
      ['a symbol', [Symbol('s')]],
      ['a function', [{ toJSON: () => 1 }]],
      ['a Date', [{ at: new Date(0) }]],
      ['a RegExp', [/x/]],
      ['a Map', [new Map()]],
      ['a Set', [new Set()]],
      ['an Error', [new Error('x')]],
      ['a typed array', [new Uint8Array(1)]],
      ['an ArrayBuffer', [new ArrayBuffer(1)]],
      ['a boxed string', [Object('s')]],
      ['a class instance', [new (class A {})()]],
      // biome-ignore lint/suspicious/noSparseArray: a hole is what is tested
      ['a hole', [[1, , 3]]],
      ['an array with another property', [Object.assign([1], { x: 1 })]],
      ['an array subclass', [new (class L extends Array {})()]],
      ['a cycle', [cycle]],
      ['an object twice in one result', [[same, same]]],
      ['an object in two results', [same, { same }]],
      ['a Proxy', [new Proxy({}, {})]],
      ['an array Proxy', [new Proxy([], {})]],
      ['a Date with Object.prototype', [Object.setPrototypeOf(new Date(0), Object.prototype)]],
      ['a Map with Object.prototype', [Object.setPrototypeOf(new Map(), Object.prototype)]],
      ['a Set with null prototype', [Object.setPrototypeOf(new Set(), null)]],
      [
        'a Promise with Object.prototype',
        [Object.setPrototypeOf(Promise.resolve(), Object.prototype)],
      ],
      ['an own toStringTag', [{ [Symbol.toStringTag]: 'X' }]],
      [
        'a getter that throws',
        [
          Object.defineProperty({}, 'x', {
            get() {
              throw new Error('no');
            },
            enumerable: true,
          }),
        ],
      ],
    ];
    for (const [what, values] of refused) {
      assert.equal(encode(values), undefined, what);
    }
  });

  it('a toJSON every object inherits sends the batch by structured clone', () => {
    const proto = Object.prototype as { toJSON?: () => unknown };
    proto.toJSON = () => 'patched';
    try {
      assert.equal(encode([{ a: 1 }]), undefined);
    } finally {
      delete proto.toJSON;
    }
    assert.notEqual(encode([{ a: 1 }]), undefined);
  });

  it('the comparator tells apart what the path must keep', () => {
    const same = { a: 1 };
    assert.match(sameClone(-0, 0) ?? '', /value/);
    assert.match(sameClone({ a: 1, b: 2 }, { b: 2, a: 1 }) ?? '', /keys/);
    assert.match(sameClone(Object.create(null), {}) ?? '', /prototype/);
    assert.match(sameClone([same, same], [{ a: 1 }, { a: 1 }]) ?? '', /shared/);
    assert.match(sameClone(new Date(0), new Date(1)) ?? '', /value/);
    assert.match(sameClone(new Map([[1, 2]]), new Map([[1, 3]])) ?? '', /value/);
    assert.equal(
      sameClone([same, same, { n: -0 }], structuredClone([same, same, { n: -0 }])),
      undefined,
    );
  });
});

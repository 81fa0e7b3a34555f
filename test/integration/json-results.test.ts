/**
 * Results that travel as JSON text (src/wire/exact-json.ts) arrive exactly as they do by
 * structured clone, on both runtimes: the same values through a pool with the JSON path on and
 * one with it off, against what structured clone (thread) or the V8 serializer (process) make of
 * them.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import v8 from 'node:v8';
import fc from 'fast-check';
import { createPool } from 'rxpool';
// rxpool's own module instances (the package resolves to dist/ too): the executors, whose
// `jsonResults` switch no user sets.
import { processExecutor } from '../../dist/src/threads/process-executor.js';
import { threadExecutor } from '../../dist/src/threads/thread-executor.js';
import { anyCloneable, sameClone } from '../support/same-clone.js';

const cloneable = fc
  .oneof(
    anyCloneable(),
    fc.jsonValue(),
    fc.constantFrom<unknown>(-0, undefined, Number.NaN),
    // Fresh each time (an object shared by items would part at batch boundaries, either path).
    fc
      .constantFrom(0, 1, 2)
      .map((kind) => {
        const inner = { n: kind === 0 ? -0 : kind };
        return kind === 2 ? { a: inner, b: inner } : [inner, [1, 2, 3]];
      }),
    fc.record({
      id: fc.integer(),
      name: fc.string(),
      amount: fc.double({ noNaN: true, noDefaultInfinity: true }),
      tags: fc.array(fc.string(), { maxLength: 3 }),
    }),
  )
  .filter((value) => {
    try {
      structuredClone(value);
      return true;
    } catch {
      return false;
    }
  });

/** Counts the main thread's `JSON.parse` calls while `run` runs. */
async function parses<T>(run: () => Promise<T>): Promise<{ result: T; calls: number }> {
  const parse = JSON.parse;
  let calls = 0;
  JSON.parse = ((...args: Parameters<typeof parse>) => {
    calls++;
    return parse(...args);
  }) as typeof parse;
  try {
    return { result: await run(), calls };
  } finally {
    JSON.parse = parse;
  }
}

for (const runtime of ['thread', 'process'] as const) {
  describe(`JSON results, runtime: '${runtime}'`, () => {
    const pool = createPool({ size: 2, runtime });
    const executor = runtime === 'thread' ? threadExecutor : processExecutor;
    // The same executor with the JSON path off.
    const plain = createPool({ executor: executor({ size: 2, jsonResults: false }) });
    after(() => Promise.all([pool.close(), plain.close()]));
    const reference =
      runtime === 'thread'
        ? (value: unknown) => structuredClone(value)
        : (value: unknown) => v8.deserialize(v8.serialize(value));

    test('results arrive as structured clone gives them, with the JSON path on and off', async () => {
      let jsonBatches = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(cloneable, { minLength: 1, maxLength: 40 }), async (values) => {
          const expected = reference(values);
          const on = await parses(() => pool.map((x: unknown) => x, values));
          jsonBatches += on.calls;
          const off = await plain.map((x: unknown) => x, values);
          assert.equal(sameClone(on.result, expected), undefined);
          assert.equal(sameClone(off, expected), undefined);
          assert.equal(sameClone(on.result, off), undefined);
        }),
        { numRuns: 150 },
      );
      assert.ok(jsonBatches > 20, `only ${jsonBatches} batches came back as JSON`);
    });

    test('records come back as JSON text; with the switch off, by structured clone', async () => {
      const records = Array.from({ length: 500 }, (_, id) => ({ id, name: `r${id}`, tags: ['a'] }));
      const summarize = (r: { id: number; name: string }) => ({
        id: r.id,
        upper: r.name.toUpperCase(),
      });
      const on = await parses(() => pool.map(summarize, records));
      assert.ok(on.calls > 0, 'no batch came back as JSON');
      assert.deepEqual(on.result, records.map(summarize));
      const off = await parses(() => plain.map(summarize, records));
      assert.equal(off.calls, 0);
      assert.deepEqual(off.result, records.map(summarize));
    });

    test('a batch with one result JSON would change comes back by structured clone', async () => {
      const made = await parses(() =>
        pool.map(
          (i: number) => (i === 7 ? { at: new Date(0), n: -0 } : { i }),
          [...Array(16).keys()],
        ),
      );
      const seven = made.result[7] as { at: Date; n: number };
      assert.ok(seven.at instanceof Date);
      assert.ok(Object.is(seven.n, -0));
      assert.deepEqual(made.result[3], { i: 3 });
    });
  });
}

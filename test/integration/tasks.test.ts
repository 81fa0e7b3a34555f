/**
 * What runs in a worker: task() references to module exports (.mjs, .cjs, .js, .ts) and inline
 * functions, and the errors for what cannot run.
 */
import assert from 'node:assert/strict';
import { basename } from 'node:path';
import { after, describe, it } from 'node:test';
import { lastValueFrom, of, range, toArray } from 'rxjs';
import { createPool, TaskError, task } from 'rxpool';
import { parallelMap, parallelSettle } from 'rxpool/operators';
import { FACES, runFace } from '../support/faces.js';
import { fixture, rejection } from './_helpers.js';

const pool = createPool({ size: 2 });
after(() => pool.destroy());

const T = { timeout: 30_000 };

describe('task() references', () => {
  it('runs the default and a named export of an .mjs module', T, async () => {
    assert.equal(await pool.run(task<number, number>(fixture('plain.mjs')), 7), 49);
    assert.equal(await pool.run(task<number, number>(fixture('plain.mjs'), 'double'), 7), 14);
    assert.equal(await pool.run(task<number, number>(fixture('plain.mjs'), 'slowNegate'), 7), -7);
  });

  it('runs a named export of a .cjs module (module.exports = {...})', T, async () => {
    assert.equal(await pool.run(task<number, number>(fixture('common.cjs'), 'triple'), 5), 15);
  });

  it('runs the default export of a .cjs module (module.exports = { default })', T, async () => {
    assert.equal(await pool.run(task<number, number>(fixture('common.cjs')), 5), 105);
    assert.equal(await pool.run(task<number, number>(fixture('common.cjs'), 'default'), 6), 106);
  });

  it('runs a .cjs module whose module.exports is the function', T, async () => {
    assert.equal(await pool.run(task<number, number>(fixture('common-fn.cjs')), 5), 6);
  });

  it('runs the default and a named export of a .js module', T, async () => {
    assert.equal(await pool.run(task<string, string>(fixture('esm.js')), 'abc'), 'ABC');
    assert.equal(await pool.run(task<string, string>(fixture('esm.js'), 'reverse'), 'abc'), 'cba');
  });

  it('runs a TypeScript module when the program runs under tsx', T, async () => {
    assert.equal(await pool.run(task<number, number>(fixture('typed.ts')), 3), 27);
    const norm = task<{ x: number; y: number }, number>(fixture('typed.ts'), 'norm');
    assert.deepEqual(
      await pool.map(norm, [
        { x: 3, y: 4 },
        { x: 6, y: 8 },
      ]),
      [5, 10],
    );
  });

  it('takes a module given as an absolute path or a file: URL string', T, async () => {
    const url = fixture('plain.mjs');
    assert.equal(await pool.run(task<number, number>(url.href, 'double'), 4), 8);
    assert.equal(await pool.run(task<number, number>(url.pathname, 'double'), 5), 10);
  });

  it('runs a task() reference through parallelMap', T, async () => {
    const results = await lastValueFrom(
      of(1, 2, 3).pipe(
        parallelMap(task<number, number>(fixture('plain.mjs')), { pool }),
        toArray(),
      ),
    );
    assert.deepEqual(results, [1, 4, 9]);
  });

  it('fails the item with a TaskError whose cause names a missing export', T, async () => {
    const error = await rejection(pool.run(task(fixture('plain.mjs'), 'nope'), 1));
    assert.equal(error.index, 0);
    assert.equal(error.input, 1);
    assert.ok(error.cause instanceof Error);
    assert.match(error.cause.message, /'nope'/);
    assert.match(error.cause.message, /plain\.mjs/);
    assert.match(error.message, /'nope'/);
  });

  it('fails the item with a TaskError when the export is not a function', T, async () => {
    const error = await rejection(pool.run(task(fixture('plain.mjs'), 'notAFunction'), 1));
    assert.match(error.cause.message, /'notAFunction'/);
  });

  it('fails every item of a stream on a missing export, and the pool stays usable', T, async () => {
    await assert.rejects(
      lastValueFrom(of(1, 2).pipe(parallelMap(task(fixture('common.cjs'), 'nope'), { pool }))),
      (error: unknown) =>
        error instanceof TaskError && error.index === 0 && /'nope'/.test(error.cause.message),
    );
    assert.equal(await pool.run(task<number, number>(fixture('common.cjs'), 'triple'), 2), 6);
  });

  it('throws at once, with a clear message, for a module file that does not exist', () => {
    const missing = fixture('does-not-exist.mjs');
    assert.throws(
      () => task(missing),
      (error: unknown) =>
        error instanceof Error &&
        /Cannot find the task module/.test(error.message) &&
        error.message.includes('does-not-exist.mjs'),
    );
    assert.throws(
      () => task('./test/fixtures/does-not-exist.mjs', 'name'),
      /Cannot find the task module .*does-not-exist\.mjs/,
    );
  });
});

describe("a CommonJS module whose export is a function carrying others (piscina's fixtures)", () => {
  const url = fixture('common-fn-props.cjs');
  for (const runtime of ['thread', 'process'] as const) {
    describe(`runtime: '${runtime}'`, () => {
      const target = createPool({ size: 2, runtime });
      after(() => target.destroy());

      for (const face of FACES) {
        it(`${face}: task(url, 'double') finds the function's own property`, T, async () => {
          const run = await runFace(face, target, task<number, number>(url, 'double'), [1, 2, 3]);
          assert.deepEqual(run.errors, []);
          assert.deepEqual(run.ordered ? run.values : run.values.sort(), [2, 4, 6]);
        });
      }

      it(
        "the default export is the function itself; a property that is not a function, or a function's own call/bind/name, is no export",
        T,
        async () => {
          assert.equal(await target.run(task<number, number>(url), 1), 2);
          assert.equal(await target.run(task<number, number>(url, 'default'), 1), 2);
          const label = await rejection(target.run(task(url, 'label'), 1));
          assert.match(label.cause.message, /exports 'label' as a string, not a function/);
          for (const name of ['call', 'bind', 'apply', 'name', 'length', 'toString']) {
            const error = await rejection(target.run(task(url, name), 1));
            assert.match(
              error.cause.message,
              new RegExp(
                `has no export named '${name}'; its function exports are: default, double$`,
              ),
            );
          }
          assert.equal(await target.run((x: number) => x * 2, 21), 42);
        },
      );
    });
  }
});

const objectWithMethods = {
  triple(n: number) {
    return n * 3;
  },
  async quadruple(n: number) {
    await Promise.resolve();
    return n * 4;
  },
};

describe('inline functions', () => {
  it('runs an arrow function', T, async () => {
    assert.equal(await pool.run((n: number) => n + 1, 41), 42);
  });

  it('runs an async arrow function', T, async () => {
    const result = await pool.run(async (n: number) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return `async ${n}`;
    }, 1);
    assert.equal(result, 'async 1');
  });

  it('runs a function expression and a function declaration', T, async () => {
    assert.equal(
      await pool.run(function negate(n: number) {
        return -n;
      }, 5),
      -5,
    );
    function halve(n: number): number {
      return n / 2;
    }
    assert.deepEqual(await pool.map(halve, [2, 4, 6]), [1, 2, 3]);
  });

  it('runs a method written in shorthand, plain and async', T, async () => {
    assert.equal(await pool.run(objectWithMethods.triple, 5), 15);
    assert.equal(await pool.run(objectWithMethods.quadruple, 5), 20);
  });

  it('runs an inline function through parallelMap', T, async () => {
    const results = await lastValueFrom(
      of('a', 'b').pipe(
        parallelMap((s: string) => s.repeat(2), { pool }),
        toArray(),
      ),
    );
    assert.deepEqual(results, ['aa', 'bb']);
  });

  it('explains why an inline function that reads a captured variable fails', T, async () => {
    const factor = 3;
    const error = await rejection(pool.run((n: number) => n * factor, 2));
    assert.equal(error.cause.name, 'ReferenceError');
    assert.match(error.cause.message, /factor is not defined/);
    assert.match(error.message, /factor/);
    assert.match(error.message, /source text/);
    assert.match(error.message, /task\(/);
  });

  it('explains a captured import the same way, in a stream', T, async () => {
    await assert.rejects(
      lastValueFrom(of('/a/b.txt').pipe(parallelMap((p: string) => basename(p), { pool }))),
      (error: unknown) =>
        error instanceof TaskError &&
        error.cause.name === 'ReferenceError' &&
        /basename/.test(error.message) &&
        /source text/.test(error.message) &&
        /task\(/.test(error.message),
    );
  });

  it('keeps the name, message and code of an error thrown by the task', T, async () => {
    const error = await rejection(
      pool.run((n: number) => {
        const failure = new RangeError(`bad ${n}`);
        Object.assign(failure, { code: 'E_BAD' });
        throw failure;
      }, 7),
    );
    assert.equal(error.cause.name, 'RangeError');
    assert.equal(error.cause.message, 'bad 7');
    assert.equal((error.cause as { code?: string }).code, 'E_BAD');
    assert.doesNotMatch(error.message, /source text/);
  });
});

describe('results of a batch', () => {
  // Batches of 64: numbers travel packed, so these mix what packing must give way to.
  const inBatches = { pool, batchSize: 64 };

  it('keeps every value when numbers and other values share a batch', T, async () => {
    const work = (x: number) =>
      x === 1
        ? -0
        : x === 2
          ? Number.NaN
          : x === 3
            ? -Infinity
            : x % 7 === 3
              ? { x }
              : x % 50 === 40
                ? String(x)
                : x * 1.5;
    const results = await lastValueFrom(
      range(0, 500).pipe(parallelMap(work, inBatches), toArray()),
    );
    assert.deepEqual(
      results,
      Array.from({ length: 500 }, (_, x) => work(x)),
    );
    assert.ok(Object.is(results[1], -0));
  });

  it('keeps -0 and large integers apart from small ones, both ways', T, async () => {
    // Small integers travel as 32-bit integers: -0, 2 ** 31 and 0.5 must not. (Batches of 64
    // after the first 4 items, which go alone: each of these is in a batch of its own.)
    const inputs = Array.from({ length: 200 }, (_, i) =>
      i === 100 ? -0 : i === 60 ? 2 ** 31 : i === 150 ? 0.5 : i,
    );
    const identity = await lastValueFrom(
      of(...inputs).pipe(
        parallelMap((x: number) => x, inBatches),
        toArray(),
      ),
    );
    for (const [i, x] of identity.entries()) assert.ok(Object.is(x, inputs[i]), `item ${i}: ${x}`);
    const made = await lastValueFrom(
      range(0, 200).pipe(
        parallelMap((i: number) => (i === 100 ? -0 : i === 160 ? -(2 ** 31) - 1 : i), inBatches),
        toArray(),
      ),
    );
    assert.ok(Object.is(made[100], -0));
    assert.equal(made[160], -(2 ** 31) - 1);
    assert.equal(made[199], 199);
  });

  it('keeps order when some items of a batch return promises and others values', T, async () => {
    const work = (x: number) =>
      x % 3 === 0 ? new Promise<number>((resolve) => setTimeout(() => resolve(x * 2), 1)) : x * 2;
    const results = await lastValueFrom(
      range(0, 300).pipe(parallelMap(work, inBatches), toArray()),
    );
    assert.deepEqual(
      results,
      Array.from({ length: 300 }, (_, x) => x * 2),
    );
  });

  it('keeps the numbers of a batch whose other items failed', T, async () => {
    const work = (x: number) => {
      if (x % 10 === 7) throw new Error(`no ${x}`);
      return x + 0.5;
    };
    const settled = await lastValueFrom(
      range(0, 300).pipe(parallelSettle(work, inBatches), toArray()),
    );
    assert.equal(settled.length, 300);
    for (const [x, s] of settled.entries()) {
      assert.equal(s.index, x);
      if (x % 10 === 7)
        assert.ok(!s.ok && s.error.cause instanceof Error && s.error.cause.message === `no ${x}`);
      else assert.ok(s.ok && s.value === x + 0.5);
    }
  });
});

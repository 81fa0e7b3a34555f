/**
 * `runtime: 'process'`: the same work on child processes, and errors that keep their shape.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { lastValueFrom, of, toArray } from 'rxjs';
import { createPool, task } from 'rxpool';
import { parallelMap } from 'rxpool/operators';
import { fixture, rejection } from './_helpers.js';

const pool = createPool({ size: 1, runtime: 'process' });
after(() => pool.destroy());

const T = { timeout: 60_000 };

describe("runtime: 'process'", () => {
  it('runs a task() module with run and map', T, async () => {
    assert.equal(await pool.run(task<number, number>(fixture('plain.mjs')), 9), 81);
    const double = task<number, number>(fixture('plain.mjs'), 'double');
    assert.deepEqual(await pool.map(double, [1, 2, 3, 4]), [2, 4, 6, 8]);
    assert.deepEqual(
      await pool.map(task<number, number>(fixture('common.cjs'), 'triple'), [1, 2]),
      [3, 6],
    );
  });

  it('runs an inline function with run, map and parallelMap', T, async () => {
    assert.equal(await pool.run((n: number) => n + 1, 41), 42);
    assert.deepEqual(await pool.map(async (s: string) => s.toUpperCase(), ['a', 'b']), ['A', 'B']);
    const results = await lastValueFrom(
      of(1, 2, 3).pipe(
        parallelMap((n: number) => n * 10, { pool }),
        toArray(),
      ),
    );
    assert.deepEqual(results, [10, 20, 30]);
  });

  it('runs in another process', T, async () => {
    const pid = await pool.run(() => process.pid, undefined);
    assert.equal(typeof pid, 'number');
    assert.notEqual(pid, process.pid);
  });

  it("keeps a module task's thrown error's name, message, code and properties", T, async () => {
    const failWith = task(fixture('plain.mjs'), 'failWith');
    const error = await rejection(
      pool.run(failWith, { name: 'QuotaError', message: 'over quota', code: 'E_QUOTA' }),
    );
    assert.equal(error.index, 0);
    assert.ok(error.cause instanceof Error);
    assert.equal(error.cause.name, 'QuotaError');
    assert.equal(error.cause.message, 'over quota');
    assert.equal((error.cause as { code?: string }).code, 'E_QUOTA');
    assert.deepEqual((error.cause as { detail?: unknown }).detail, { code: 'E_QUOTA' });
    assert.match(error.message, /QuotaError: over quota/);
  });

  it("keeps an inline function's thrown error's name, message and code", T, async () => {
    const error = await rejection(
      pool.run((n: number) => {
        const failure = new TypeError(`not a number: ${n}`);
        Object.assign(failure, { code: 'E_NAN' });
        throw failure;
      }, 5),
    );
    assert.equal(error.cause.name, 'TypeError');
    assert.equal(error.cause.message, 'not a number: 5');
    assert.equal((error.cause as { code?: string }).code, 'E_NAN');
  });

  it('explains a captured variable in an inline function', T, async () => {
    const offset = 1;
    const error = await rejection(pool.run((n: number) => n + offset, 1));
    assert.equal(error.cause.name, 'ReferenceError');
    assert.match(error.message, /source text/);
  });

  it('stays usable after failures', T, async () => {
    assert.equal(await pool.run((n: number) => n * 2, 21), 42);
  });
});

describe('the environment of the workers', () => {
  for (const runtime of ['process', 'thread'] as const) {
    it(`${runtime}: workers inherit process.env; \`env\` replaces it`, T, async () => {
      process.env.RXPOOL_ENV_TEST = `from the parent (${runtime})`;
      const inherits = createPool({ size: 1, runtime });
      const replaced = createPool({ size: 1, runtime, env: { RXPOOL_ONLY: 'yes' } });
      try {
        assert.deepEqual(
          await inherits.run(
            () => [process.env.RXPOOL_ENV_TEST, process.env.PATH ?? null],
            undefined,
          ),
          [`from the parent (${runtime})`, process.env.PATH ?? null],
        );
        const seen = await replaced.run(
          () => Object.keys(process.env).filter((name) => name !== 'TINYPOOL_WORKER_ID'),
          undefined,
        );
        assert.deepEqual(seen, ['RXPOOL_ONLY']);
      } finally {
        delete process.env.RXPOOL_ENV_TEST;
        await Promise.all([inherits.close(), replaced.close()]);
      }
    });
  }
});

/**
 * Finding a task's function among its module's exports: the workers and `rxpool map` use one
 * lookup, and both say what is wrong when the export is missing or is not a function.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createPool, task } from 'rxpool';
import { fixture, rejection } from './_helpers.js';

const pool = createPool({ size: 1 });
after(() => pool.destroy());
const T = { timeout: 30_000 };
const MODULE = fixture('object-export.mjs');

describe('a task() reference to an export that is not a function', () => {
  it(
    'says that the default export is an object, and names the functions there are',
    T,
    async () => {
      const error = await rejection(pool.run(task(MODULE), 1));
      assert.equal(error.cause.name, 'TypeError');
      assert.equal(
        error.cause.message,
        `Task module ${MODULE.href} exports 'default' as an object, not a function; ` +
          'its function exports are: triple, negate',
      );
    },
  );

  it('says the same of a named export, with its type', T, async () => {
    const settings = await rejection(pool.run(task(MODULE, 'settings'), 1));
    assert.match(
      settings.cause.message,
      /exports 'settings' as an object, not a function; its function exports are: triple, negate$/,
    );
    const none = await rejection(pool.run(task(MODULE, 'none'), 1));
    assert.match(none.cause.message, /exports 'none' as `null`, not a function/);
    const missing = await rejection(pool.run(task(MODULE, 'nope'), 1));
    assert.match(
      missing.cause.message,
      /has no export named 'nope'; its function exports are: triple, negate$/,
    );
  });

  it("finds the functions of a default-exported object by name, as CommonJS's", T, async () => {
    assert.equal(await pool.run(task<number, number>(MODULE, 'triple'), 3), 9);
  });
});

describe('rxpool map checks the export with the same lookup', () => {
  const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
  const run = promisify(execFile);

  for (const [name, problem] of [
    ['default', "exports 'default' as an object, not a function"],
    ['settings', "exports 'settings' as an object, not a function"],
    ['nope', "has no export named 'nope'"],
  ] as const) {
    it(`exits 3 for the export '${name}', before reading input`, T, async () => {
      const failed = await run(process.execPath, [CLI, 'map', fileURLToPath(MODULE), name]).then(
        () => assert.fail('expected exit code 3'),
        (error: { code: number; stdout: string; stderr: string }) => error,
      );
      assert.equal(failed.code, 3);
      assert.equal(failed.stdout, '');
      assert.match(
        failed.stderr,
        new RegExp(`${problem}; its function exports are: triple, negate\\n$`),
      );
    });
  }
});

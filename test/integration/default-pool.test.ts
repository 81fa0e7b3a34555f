/**
 * The shared default pool never keeps the process alive: a script that uses parallelMap and
 * creates no pool exits by itself, at once, once its work is done. Closed, it is replaced by a
 * fresh one on next use.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { lastValueFrom, of, toArray } from 'rxjs';
import { defaultPool } from 'rxpool';
import { parallelMap } from 'rxpool/operators';
import { runNode } from '../support/child.js';
import { fixture } from './_helpers.js';

const EXIT_WITHIN_MS = 1_500;

it(
  'a script that uses parallelMap with no pool exits by itself, with the right output',
  {
    timeout: 60_000,
  },
  async () => {
    const run = await runNode([fileURLToPath(fixture('default-pool-exit.mjs'))], {
      killAfterMs: 30_000,
    });
    assert.equal(run.signal, null, `the script hung and was killed; stderr: ${run.stderr}`);
    assert.equal(run.code, 0, `exit code ${run.code}; stderr: ${run.stderr}`);
    const lines = run.stdout.trim().split('\n');
    assert.equal(lines.length, 1, `unexpected output: ${run.stdout}`);
    const { results, printedAt } = JSON.parse(lines[0]!) as {
      results: number[];
      printedAt: number;
    };
    assert.deepEqual(
      results,
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    const lingered = run.exitedAt - printedAt;
    assert.ok(
      lingered <= EXIT_WITHIN_MS,
      `the process exited ${lingered} ms after printing its last result`,
    );
  },
);

it(
  'after defaultPool().close() (or destroy()), the next call that names no pool gets a fresh default pool',
  { timeout: 60_000 },
  async () => {
    const first = defaultPool();
    assert.equal(first, defaultPool());
    assert.equal(await first.run((n: number) => n * n, 7), 49);
    await first.close();
    // The closed pool itself refuses new work, as any closed pool does.
    await assert.rejects(
      first.run((n: number) => n, 1),
      /closed/,
    );
    // An operator that names no pool runs on a fresh default pool.
    assert.deepEqual(
      await lastValueFrom(
        of(1, 2, 3).pipe(
          parallelMap((n: number) => n + 1),
          toArray(),
        ),
      ),
      [2, 3, 4],
    );
    const second = defaultPool();
    assert.notEqual(second, first);
    assert.equal(await second.run((n: number) => n * 2, 21), 42);
    await second.destroy();
    const third = defaultPool();
    assert.notEqual(third, second);
    assert.deepEqual(await third.map((n: number) => -n, [1, 2]), [-1, -2]);
    await third.close();
  },
);

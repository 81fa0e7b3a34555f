/**
 * The process stays alive while any item is pending, or while a worker is being replaced for one,
 * and only an idle pool lets it exit: scripts whose items crash their workers now and then, run
 * in child processes, many rounds each, must settle every item and exit by themselves with code 0
 * (an empty event loop under a top-level await exits with 13, or with 0 and no output).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runNode } from '../support/child.js';
import { fixture } from './_helpers.js';

const script = fileURLToPath(fixture('crash-storm.mjs'));
const ROUNDS = 4;

/**
 * Sized from runs before the fix: a crash every 20 items from the first on, over 1,000 items,
 * let the process exit in the middle in most rounds of imapSettled; sequential `run` calls, with
 * a crash every 10 of 300.
 */
const cases = [
  { mode: 'imapSettled', items: 1000, every: 20 },
  { mode: 'parallelSettle', items: 1000, every: 20 },
  { mode: 'run', items: 300, every: 10 },
] as const;

describe('the process lives while items are pending, through worker crashes', () => {
  for (const { mode, items, every } of cases) {
    it(
      `${mode}: ${items} items, one in ${every} exits its worker, ${ROUNDS} rounds`,
      { timeout: 300_000 },
      async () => {
        for (let round = 1; round <= ROUNDS; round++) {
          const run = await runNode([script, mode, String(items), String(every)], {
            killAfterMs: 60_000,
          });
          const where = `round ${round}: stdout ${JSON.stringify(run.stdout)}, stderr ${run.stderr}`;
          assert.equal(run.signal, null, `the script hung and was killed; ${where}`);
          assert.equal(run.code, 0, `exit code ${run.code}; ${where}`);
          assert.deepEqual(
            JSON.parse(run.stdout.trim() || 'null'),
            { settled: items, failed: items / every },
            where,
          );
        }
      },
    );
  }
});

describe('the process lives while the pool closes', () => {
  it('an awaited close() resolves though its executor closes on a timer that holds nothing', async () => {
    const { code, stdout, stderr } = await runNode([fileURLToPath(fixture('slow-close.mjs'))], {
      killAfterMs: 30_000,
    });
    // Without the hold, the event loop empties under the top-level await: exit code 13, no line.
    assert.equal(code, 0, stderr);
    assert.deepEqual(JSON.parse(stdout.trim() || 'null'), { value: 2, closed: true });
  });
});

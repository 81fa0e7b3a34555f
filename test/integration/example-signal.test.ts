/**
 * Smoke test of examples/signal: the command line runs on a small signal and reports agreement;
 * the pool's in-place result equals the one-thread result, within [-1, 1], with the right range.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createPool } from 'rxpool';
import { run } from '../../examples/signal/signal.js';

const exec = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const pool = createPool({ size: 2 });
after(() => pool.close());

test('main.ts normalizes a shared signal and says it matches one thread', async () => {
  const { stdout } = await exec(
    process.execPath,
    ['--import', 'tsx', 'examples/signal/main.ts', '--samples', '200000'],
    { cwd: root, timeout: 60_000 },
  );
  assert.match(stdout, /^signal: 200000 samples/m);
  assert.match(stdout, /^speedup: \d+\.\d\dx over one thread$/m);
  assert.match(stdout, /^same result as one thread: yes$/m);
});

test('the workers rescale the shared samples in place to [-1, 1], as one thread does', async () => {
  const { parallel, single, same, samples } = await run(100_003, pool);
  assert.equal(same, true);
  assert.equal(parallel.summary.min, single.summary.min);
  assert.equal(parallel.summary.max, single.summary.max);
  // Summed in 64 parts or in one: the same up to rounding.
  assert.ok(Math.abs(parallel.summary.sum - single.summary.sum) < 1e-6 * single.summary.sum);
  let min = Infinity;
  let max = -Infinity;
  for (const v of samples) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  assert.equal(min, -1);
  assert.ok(Math.abs(max - 1) < 1e-6, `max ${max}`);
  // The signal swings between about 5 - 4.1 and 5 + 4.1 before it is rescaled.
  assert.ok(parallel.summary.min > 0.5 && parallel.summary.min < 1.2, `${parallel.summary.min}`);
  assert.ok(parallel.summary.max > 8.8 && parallel.summary.max < 9.5, `${parallel.summary.max}`);
});

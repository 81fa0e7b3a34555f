/**
 * A program given to node as string input (`node --input-type=module -e '...'`, or a module on
 * stdin) runs a pool on both runtimes: Node passes `--input-type` on to the workers, which refuse
 * it (src/threads/exec-argv.ts). An option a worker thread cannot take (`--expose-gc`) leaves
 * Node's default, and the item fails at once with why.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { runNode, startNode } from '../support/child.js';

const rxpool = JSON.stringify(new URL('../../dist/src/index.js', import.meta.url).href);
const program = `import { createPool } from ${rxpool};
const out = [];
for (const runtime of ['thread', 'process']) {
  const pool = createPool({ size: 1, runtime, maxHeapMb: runtime === 'process' ? 256 : undefined });
  try {
    out.push(await pool.run((n) => n * 2, 21));
  } catch (error) {
    out.push(error.message);
  } finally {
    await pool.close();
  }
}
console.log(JSON.stringify(out));`;

it('node --input-type=module -e: a pool runs its items on both runtimes', async () => {
  const run = await runNode(['--input-type=module', '-e', program], { killAfterMs: 60_000 });
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), [42, 42]);
});

it('a module on stdin (node --input-type=module): a pool runs its items on both runtimes', async () => {
  const started = startNode(['--input-type=module'], { killAfterMs: 60_000 });
  started.child.stdin.end(program);
  const run = await started.outcome;
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), [42, 42]);
});

it('with an option a worker thread cannot take, a thread item fails at once with why', async () => {
  const started = Date.now();
  const run = await runNode(['--input-type=module', '--expose-gc', '-e', program], {
    killAfterMs: 60_000,
  });
  assert.equal(run.code, 0, run.stderr);
  const [thread, child] = JSON.parse(run.stdout) as [string, number];
  assert.match(thread, /A worker could not start: --input-type can only be used with string input/);
  // A child process takes any option node does.
  assert.equal(child, 42);
  assert.ok(Date.now() - started < 30_000);
});

/**
 * The Node options a pool's workers start with (src/threads/exec-argv.ts): Node's default, unless
 * the process was given string input (its options then go without it) or a child process needs
 * `--max-old-space-size`.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { workerExecArgv } from '../../src/threads/exec-argv.js';

it("no string input: Node's default for threads, and for children without maxHeapMb", () => {
  assert.equal(workerExecArgv('thread', undefined, ['--import', 'tsx']), undefined);
  assert.equal(workerExecArgv('thread', 64, ['--import', 'tsx']), undefined);
  assert.equal(workerExecArgv('process', undefined, []), undefined);
  assert.deepEqual(workerExecArgv('process', 64, ['--import', 'tsx']), [
    '--import',
    'tsx',
    '--max-old-space-size=64',
  ]);
});

it("string input: the process's options go without it (its code included)", () => {
  const options = ['--import', 'tsx', '--input-type=module', '-e', 'code', '--no-warnings'];
  assert.deepEqual(workerExecArgv('thread', undefined, options), [
    '--import',
    'tsx',
    '--no-warnings',
  ]);
  assert.deepEqual(workerExecArgv('process', 32, ['--input-type', 'module', '--print', 'x']), [
    '--max-old-space-size=32',
  ]);
  assert.deepEqual(workerExecArgv('process', undefined, ['--input-type=commonjs', '--eval=x']), []);
});

it("string input with an option a thread refuses: threads keep Node's default", () => {
  assert.equal(
    workerExecArgv('thread', undefined, ['--input-type=module', '--expose-gc']),
    undefined,
  );
  assert.deepEqual(workerExecArgv('process', undefined, ['--input-type=module', '--expose-gc']), [
    '--expose-gc',
  ]);
});

/**
 * `rxpool map` with exports that give many values per line: a generator (or an async one) writes
 * a line per value and none for an empty one, in input order; `--flat` splits returned arrays;
 * a line whose generator throws fails as a whole, as any line does. Both paths: blocks (the
 * default) and line by line (`--on-error settle`).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const TASK = './cli-flat.mjs';

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built command line with `input` on stdin. */
function rxpool(args: readonly string[], input: string): Promise<Result> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: FIXTURES });
  const timer = setTimeout(() => child.kill(), 60_000);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  child.stdin.end(input);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const lines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));
const expand = (ns: number[]) => ns.flatMap((n) => Array.from({ length: n }, (_, i) => ({ n, i })));

test('a generator writes a line per value, none for an empty one, in input order', async () => {
  const ns = [2, 0, 3, 1, 0];
  for (const name of ['repeat', 'slowRepeat']) {
    const { code, stdout } = await rxpool(['map', TASK, name, '--workers', '2'], ns.join('\n'));
    assert.equal(code, 0);
    assert.deepEqual(lines(stdout), expand(ns));
  }
});

test('many lines of input, each a few values (the block path)', async () => {
  const ns = Array.from({ length: 3000 }, (_, i) => i % 4);
  const { code, stdout } = await rxpool(['map', TASK, 'repeat', '--workers', '2'], ns.join('\n'));
  assert.equal(code, 0);
  assert.deepEqual(lines(stdout), expand(ns));
});

test('line by line (--on-error settle): a settled record per value', async () => {
  const { code, stdout } = await rxpool(
    ['map', TASK, 'repeat', '--on-error', 'settle', '--workers', '2'],
    '2\n0\n1\n',
  );
  assert.equal(code, 0);
  assert.deepEqual(lines(stdout), [
    { ok: true, index: 0, line: 1, input: 2, value: { n: 2, i: 0 } },
    { ok: true, index: 0, line: 1, input: 2, value: { n: 2, i: 1 } },
    { ok: true, index: 2, line: 3, input: 1, value: { n: 1, i: 0 } },
  ]);
});

test('--flat splits a returned array; without it the array is one line', async () => {
  const flat = await rxpool(['map', TASK, 'pair', '--flat', '--workers', '2'], '1\n2\n');
  assert.deepEqual(lines(flat.stdout), [1, 10, 2, 20]);
  const plain = await rxpool(['map', TASK, 'pair', '--workers', '2'], '1\n2\n');
  assert.deepEqual(lines(plain.stdout), [
    [1, 10],
    [2, 20],
  ]);
  const settled = await rxpool(
    ['map', TASK, 'pair', '--flat', '--on-error', 'settle', '--workers', '2'],
    '1\n',
  );
  assert.deepEqual(
    lines(settled.stdout).map((r: { value: number }) => r.value),
    [1, 10],
  );
});

test('a line whose generator throws fails as a whole: skip leaves it out, fail stops', async () => {
  const skip = await rxpool(
    ['map', TASK, 'breaks', '--on-error', 'skip', '--workers', '2'],
    '1\n3\n4\n',
  );
  assert.equal(skip.code, 5);
  assert.deepEqual(lines(skip.stdout), [1, 1.5, 4, 4.5]);
  assert.match(skip.stderr, /line 2/);
  assert.match(skip.stderr, /no 3/);
  const fail = await rxpool(['map', TASK, 'breaks', '--workers', '2'], '1\n3\n4\n');
  assert.equal(fail.code, 1);
  assert.deepEqual(lines(fail.stdout), [1, 1.5]);
  assert.match(fail.stderr, /no 3/);
});

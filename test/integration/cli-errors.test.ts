/**
 * End-to-end tests of the `rxpool` command line (helpers in ./_cli.ts): failed lines and lines
 * that are not JSON under each `--on-error`, `--timeout`, `--retry`, and the progress line.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import {
  CLI,
  FIXTURES,
  finished,
  ndjson,
  parseLines,
  range,
  rxpool,
  start,
  TASK,
  writeUntilStalled,
} from './_cli.js';

test('a line that is not JSON exits 4 naming it, after the results of the lines before it', async () => {
  const { code, stdout, stderr } = await rxpool(['map', TASK], '1\n\n2\n{oops\n4\n');
  assert.equal(code, 4);
  assert.equal(stdout, '2\n4\n');
  assert.match(stderr, /^rxpool: line 4 is not JSON: /);
});

test('--on-error fail (the default) writes the results before the failure, names its line, exits 1', async () => {
  for (const args of [[], ['--on-error', 'fail']]) {
    const { code, stdout, stderr } = await rxpool(
      ['map', TASK, 'failOnThree', ...args],
      '1\n2\n\n3\n4\n5\n',
    );
    assert.equal(code, 1);
    assert.equal(stdout, '2\n4\n');
    assert.match(
      stderr,
      /^rxpool: line 4 failed after 1 attempt: RangeError: three is not allowed \(got 3\)\n\s+at failOnThree \(.*cli-task\.mjs/,
    );
    // the task's frames only: none of rxpool's own (built, bundled) modules, none of tinypool's
    assert.doesNotMatch(stderr, /\/dist\/|\/tinypool\//);
  }
});

test('--on-error skip leaves failed lines out, reports them, exits 5 (0 when none failed)', async () => {
  const { code, stdout, stderr } = await rxpool(
    ['map', TASK, 'failOnThree', '--on-error', 'skip'],
    ndjson([1, 2, 3, 4, 3]),
  );
  assert.equal(code, 5);
  assert.equal(stdout, '2\n4\n8\n');
  assert.equal(
    stderr,
    'rxpool: line 3 skipped: failed after 1 attempt: RangeError: three is not allowed (got 3)\n' +
      'rxpool: line 5 skipped: failed after 1 attempt: RangeError: three is not allowed (got 3)\n' +
      'rxpool: 2 lines failed and were skipped\n',
  );
  const clean = await rxpool(['map', TASK, 'failOnThree', '--on-error', 'skip'], '1\n2\n');
  assert.deepEqual(clean, { code: 0, stdout: '2\n4\n', stderr: '' });
});

test('--on-error settle writes every line as a Settled object and exits 0', async () => {
  const { code, stdout, stderr } = await rxpool(
    ['map', TASK, 'failOnThree', '--on-error', 'settle'],
    '2\n\n3\n4\n',
  );
  assert.equal(code, 0);
  assert.equal(stderr, '');
  assert.deepEqual(parseLines(stdout), [
    { ok: true, index: 0, line: 1, input: 2, value: 4 },
    {
      ok: false,
      index: 1,
      line: 3,
      input: 3,
      error: {
        name: 'TaskError',
        message: 'Item 1 failed after 1 attempt: RangeError: three is not allowed (got 3)',
        attempts: 1,
        cause: { name: 'RangeError', message: 'three is not allowed (got 3)', code: 'E_THREE' },
      },
    },
    { ok: true, index: 2, line: 4, input: 4, value: 8 },
  ]);
});

test('--timeout stops a runaway line: TaskTimeoutError in settle mode, exit 1 in fail mode', async () => {
  const input = ndjson(['a', 'hang', 'b']);
  const settled = await rxpool(
    ['map', TASK, 'echo', '--timeout', '300', '--on-error', 'settle', '--workers', '2'],
    input,
  );
  assert.equal(settled.code, 0);
  const [a, hang, b] = parseLines(settled.stdout) as Record<string, any>[];
  assert.deepEqual([a?.value, b?.value], ['a', 'b']);
  assert.equal(hang?.ok, false);
  assert.equal(hang?.error.name, 'TaskTimeoutError');
  assert.equal(hang?.error.timeout, 300);
  assert.equal(hang?.error.cause.name, 'TimeoutError');

  const failed = await rxpool(['map', TASK, 'echo', '--timeout', '300'], input);
  assert.equal(failed.code, 1);
  assert.equal(failed.stdout, '"a"\n');
  assert.equal(
    failed.stderr,
    'rxpool: line 2 timed out after 1 attempt: TimeoutError: The attempt ran past the timeout of 300 ms\n',
  );
});

test('--retry tries a failed line again before it counts as failed', async () => {
  const input = ndjson([1, 2, 3]);
  const once = await rxpool(['map', TASK, 'flaky', '--workers', '1', '--on-error', 'skip'], input);
  assert.equal(once.code, 5);
  assert.equal(once.stdout, '');

  const retried = await rxpool(['map', TASK, 'flaky', '--workers', '1', '--retry', '1'], input);
  assert.equal(retried.code, 0);
  assert.deepEqual(parseLines(retried.stdout), [
    { n: 1, attempts: 2 },
    { n: 2, attempts: 2 },
    { n: 3, attempts: 2 },
  ]);

  const exhausted = await rxpool(
    ['map', TASK, 'alwaysFails', '--retry', '2', '--on-error', 'settle'],
    '7\n',
  );
  assert.equal((parseLines(exhausted.stdout)[0] as any).error.attempts, 3);
});

const script = ['/usr/bin/script', '/bin/script'].find((path) => existsSync(path));

test('shows progress on stderr when it is a terminal', async () => {
  // script(1) comes with util-linux (Debian's bsdutils, an essential package): it is always here.
  assert.ok(script, 'script(1) (util-linux) is needed to give the command a terminal');
  // script(1) runs the command on a pseudo-terminal; stdin and stdout are files, stderr the terminal.
  const dir = mkdtempSync(join(tmpdir(), 'rxpool-cli-'));
  const input = join(dir, 'in.ndjson');
  writeFileSync(input, ndjson(range(1000)));
  try {
    const command = `'${process.execPath}' '${CLI}' map ${TASK} < '${input}' > /dev/null`;
    const { stdout } = await promisify(execFile)(script!, ['-qec', command, '/dev/null'], {
      cwd: FIXTURES,
    });
    assert.match(stdout, /rxpool: 1000 done, [\d.]+\/s\r?\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--on-error skip: a line that is not JSON is a failed line, reported by number; the rest go on', async () => {
  const { code, stdout, stderr } = await rxpool(
    ['map', TASK, 'failOnThree', '--on-error', 'skip'],
    '1\n{oops\n\n3\n4\nnot json\n5\n',
  );
  assert.equal(code, 5);
  assert.equal(stdout, '2\n8\n10\n');
  assert.match(
    stderr,
    new RegExp(
      '^rxpool: line 2 skipped: not JSON: .+\n' +
        'rxpool: line 4 skipped: failed after 1 attempt: RangeError: three is not allowed \\(got 3\\)\n' +
        'rxpool: line 6 skipped: not JSON: .+\n' +
        'rxpool: 3 lines failed and were skipped\n$',
    ),
  );
});

test('--on-error settle: a line that is not JSON is written as a failed record in its place', async () => {
  const { code, stdout, stderr } = await rxpool(
    ['map', TASK, '--on-error', 'settle'],
    '1\n{oops\n\n3\n',
  );
  assert.equal(code, 0);
  assert.equal(stderr, '');
  const lines = parseLines(stdout) as Record<string, any>[];
  assert.deepEqual(lines[0], { ok: true, index: 0, line: 1, input: 1, value: 2 });
  assert.deepEqual(lines[2], { ok: true, index: 2, line: 4, input: 3, value: 6 });
  const bad = lines[1]!;
  assert.deepEqual(
    { ...bad, error: { ...bad.error, message: undefined } },
    {
      ok: false,
      index: 1,
      line: 2,
      input: '{oops',
      error: { name: 'SyntaxError', message: undefined },
    },
  );
  assert.equal(
    bad.error.message,
    (() => {
      try {
        JSON.parse('{oops');
      } catch (e) {
        return (e as Error).message;
      }
    })(),
  );
  assert.equal(lines.length, 3);
});

test('a line that is not JSON waits for the results before it (ordered), even a slow one', async () => {
  // 'hang' times out after 500 ms; 40 bad lines behind it, with room for 2 lines in flight.
  const bad = Array.from({ length: 40 }, (_, i) => `bad ${i}\n`).join('');
  const { code, stdout } = await rxpool(
    ['map', TASK, 'echo', '--on-error', 'settle', '--timeout', '500', '--concurrency', '2'],
    `"a"\n"hang"\n${bad}"b"\n`,
  );
  assert.equal(code, 0);
  const lines = parseLines(stdout) as Record<string, any>[];
  assert.deepEqual(
    lines.map((s) => [s.line, s.ok, s.ok ? s.value : s.error.name]),
    [
      [1, true, 'a'],
      [2, false, 'TaskTimeoutError'],
      ...Array.from({ length: 40 }, (_, i) => [i + 3, false, 'SyntaxError']),
      [43, true, 'b'],
    ],
  );
  assert.deepEqual(
    lines.map((s) => s.index),
    lines.map((_, i) => i),
  );
});

test('--unordered --on-error settle: every line comes out once, bad ones as failed records', async () => {
  const input = range(200).map((n) => (n % 10 === 0 ? `x${n}` : String(n)));
  const { code, stdout } = await rxpool(
    ['map', TASK, '--on-error', 'settle', '--unordered', '--workers', '2'],
    `${input.join('\n')}\n`,
  );
  assert.equal(code, 0);
  const lines = (parseLines(stdout) as Record<string, any>[]).sort((a, b) => a.line - b.line);
  assert.deepEqual(
    lines.map((s) => (s.ok ? s.value : s.input)),
    range(200).map((n) => (n % 10 === 0 ? `x${n}` : n * 2)),
  );
});

test('bad lines held behind a slow line are bounded: reading stops until it is written', async () => {
  // The first line runs until its timeout (60 s); every line after it is not JSON. They must wait
  // for it (ordered), and rxpool must stop reading instead of holding them all.
  const child = start([
    'map',
    TASK,
    'echo',
    '--on-error',
    'settle',
    '--timeout',
    '60000',
    '--concurrency',
    '16',
  ]);
  child.stdin.on('error', () => {});
  const result = finished(child);
  child.stdin.write('"hang"\n');
  const line = `${'x'.repeat(1000)}\n`;
  const { written, stalled } = await writeUntilStalled(child.stdin, line);
  child.kill();
  await result;
  assert.ok(stalled, `rxpool read all ${written} bad lines while a line before them ran`);
  assert.ok(written < 5_000, `rxpool read ${written} bad lines while a line before them ran`);
});

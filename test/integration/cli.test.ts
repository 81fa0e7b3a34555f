/**
 * End-to-end tests of the `rxpool` command line: each test spawns the built
 * `dist/src/cli/main.js` (build it first: `npx tsc -p tsconfig.build.json`) in test/fixtures, with
 * the task modules cli-task.mjs and cli-broken.mjs, and checks its output, stderr and exit code.
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const TASK = './cli-task.mjs';
const SAFETY_MS = 60_000;

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Starts `rxpool ...args` in test/fixtures, killed if it is still running after a minute. */
function start(args: readonly string[]): ChildProcessWithoutNullStreams {
  assert.ok(existsSync(CLI), `${CLI} is missing: run npx tsc -p tsconfig.build.json`);
  const child = spawn(process.execPath, [CLI, ...args], { cwd: FIXTURES });
  const timer = setTimeout(() => child.kill(), SAFETY_MS);
  child.on('exit', () => clearTimeout(timer));
  return child;
}

/** Everything `child` writes, once it has exited. */
function finished(child: ChildProcessWithoutNullStreams): Promise<Result> {
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs `rxpool ...args` with `input` on stdin. */
function rxpool(args: readonly string[], input = ''): Promise<Result> {
  const child = start(args);
  const result = finished(child);
  child.stdin.on('error', () => {}); // it may exit before reading everything (a usage error)
  child.stdin.end(input);
  return result;
}

const ndjson = (values: readonly unknown[]) => values.map((v) => `${JSON.stringify(v)}\n`).join('');
const parseLines = (text: string): unknown[] =>
  text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line));
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
const byNumber = (a: number, b: number) => a - b;

test('writes the results in input order, skipping blank lines', async () => {
  const input = range(500);
  const text = `${ndjson(input.slice(0, 250))}\n   \r\n${ndjson(input.slice(250)).replace('\n', '\r\n')}`;
  const { code, stdout, stderr } = await rxpool(['map', TASK, '--workers', '2'], text);
  assert.equal(stderr, '');
  assert.equal(code, 0);
  assert.deepEqual(
    parseLines(stdout),
    input.map((n) => n * 2),
  );
});

test('reads the module path from the current directory, with or without ./', async () => {
  const { code, stdout } = await rxpool(['map', 'cli-task.mjs', 'default'], '1\n2\n');
  assert.equal(code, 0);
  assert.equal(stdout, '2\n4\n');
});

test('--unordered writes the same results in any order', async () => {
  const input = range(300);
  const { code, stdout } = await rxpool(
    ['map', TASK, '--unordered', '--concurrency', '7', '--workers', '2'],
    ndjson(input),
  );
  assert.equal(code, 0);
  assert.deepEqual(
    (parseLines(stdout) as number[]).sort(byNumber),
    input.map((n) => n * 2),
  );
});

test('an empty input writes nothing and exits 0', async () => {
  assert.deepEqual(await rxpool(['map', TASK], ''), { code: 0, stdout: '', stderr: '' });
});

test('a result JSON cannot hold (a bigint) fails its line', async () => {
  const { code, stderr } = await rxpool(['map', TASK, 'bigint'], '1\n');
  assert.equal(code, 1);
  assert.match(stderr, /line 1 failed: its result cannot be written as JSON: .*BigInt/);
  const settled = await rxpool(
    ['map', TASK, 'bigint', '--on-error', 'settle', '--concurrency', '1'],
    '1\n2\n',
  );
  assert.equal(settled.code, 0);
  assert.deepEqual(
    parseLines(settled.stdout).map((s: any) => [s.line, s.error.name, s.error.message]),
    [1, 2].map((line) => [
      line,
      'TypeError',
      'its result cannot be written as JSON: Do not know how to serialize a BigInt',
    ]),
  );
});

test('results stream out while the input is still open', async () => {
  const child = start(['map', TASK, 'echo']);
  const result = finished(child);
  let seen = '';
  const firstTwo = new Promise<void>((resolve) => {
    child.stdout.on('data', (chunk: string) => {
      seen += chunk;
      if (seen === '"a"\n"b"\n') resolve();
    });
  });
  child.stdin.write('"a"\n"b"\n');
  await firstTwo;
  child.stdin.end('"c"\n');
  const { code, stdout } = await result;
  assert.equal(code, 0);
  assert.equal(stdout, '"a"\n"b"\n"c"\n');
});

/**
 * Writes `line` up to 20,000 times (20 MB of 1 kB lines: far more than the pipes and buffers in
 * between hold), until a write has waited 2 s for 'drain': how many were written, and whether the
 * reader stopped taking them.
 */
async function writeUntilStalled(
  stdin: NodeJS.WritableStream,
  line: string,
): Promise<{ written: number; stalled: boolean }> {
  let written = 0;
  while (written < 20_000) {
    if (!stdin.write(line)) {
      const drained = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 2_000);
        stdin.once('drain', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      if (!drained) return { written, stalled: true };
    }
    written++;
  }
  return { written, stalled: false };
}

test('stops reading stdin while stdout is not read (backpressure), then finishes', async () => {
  const child = start(['map', TASK, 'echo', '--concurrency', '16', '--workers', '1']);
  child.stdout.pause();
  const line = `${JSON.stringify('x'.repeat(1000))}\n`;
  const { written, stalled } = await writeUntilStalled(child.stdin, line);
  assert.ok(stalled, `rxpool read all ${written} lines while its output was not read`);
  assert.ok(written < 5_000, `rxpool read ${written} lines while its output was not read`);
  const result = finished(child);
  child.stdout.resume();
  child.stdin.end();
  const { code, stdout } = await result;
  assert.equal(code, 0);
  assert.equal(stdout, line.repeat(written + 1));
});

test('stops quietly with exit 0 when stdout is closed (| head)', async () => {
  const child = start(['map', TASK, '--workers', '1']);
  child.stdin.on('error', () => {});
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  child.stdout.once('data', () => child.stdout.destroy());
  child.stdin.end(ndjson(range(200_000)));
  assert.equal(await exited, 0);
  assert.equal(stderr, '');
});

test('--help lists the options and the exit codes; --version prints the version', async () => {
  const help = await rxpool(['--help']);
  assert.equal(help.code, 0);
  for (const word of [
    'Usage: rxpool map',
    '--concurrency',
    '--flat',
    '--on-error',
    'Exit codes',
    '5  ',
  ]) {
    assert.ok(help.stdout.includes(word), `--help mentions ${word}`);
  }
  const { version } = JSON.parse(
    readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
  );
  assert.deepEqual(await rxpool(['-v']), { code: 0, stdout: `${version}\n`, stderr: '' });
});

test('command-line mistakes exit 2 with a message', async () => {
  const cases: [string[], RegExp][] = [
    [[], /missing the command/],
    [['mop', TASK], /unknown command 'mop'/],
    [['map'], /missing the task module/],
    [['map', TASK, 'default', 'extra'], /unexpected argument 'extra'/],
    [['map', TASK, '--frob'], /unknown option '--frob'/],
    [['map', TASK, '--concurrency'], /option '--concurrency' needs a value/],
    [['map', TASK, '--unordered=yes'], /option '--unordered' takes no value/],
    [
      ['map', TASK, '--concurrency', '0'],
      /expected --concurrency to be an integer from 1 up, got '0'/,
    ],
    [['map', TASK, '--concurrency', 'many'], /expected --concurrency .* got 'many'/],
    [['map', TASK, '--workers', '1.5'], /expected --workers to be an integer from 1 up, got '1.5'/],
    [
      ['map', TASK, '--retry', '-1'],
      /option '--retry' needs a value \(for one that starts with '-', write --retry=-N\)/,
    ],
    [['map', TASK, '--retry=-1'], /expected --retry to be an integer from 0 up, got '-1'/],
    [['map', TASK, '--timeout', '0'], /expected --timeout to be a number of milliseconds above 0/],
    [
      ['map', TASK, '--on-error', 'ignore'],
      /expected --on-error to be 'fail', 'skip' or 'settle', got 'ignore'/,
    ],
  ];
  const results = await Promise.all(cases.map(([args]) => rxpool(args, '1\n')));
  for (const [i, { code, stdout, stderr }] of results.entries()) {
    const [args, message] = cases[i]!;
    assert.equal(code, 2, `rxpool ${args.join(' ')} exits 2`);
    assert.match(stderr, message);
    assert.match(stderr, /^rxpool: .*\nRun rxpool --help for the usage\.\n$/);
    assert.equal(stdout, '');
  }
});

test('a module that cannot be found exits 3 and names where it looked', async () => {
  const { code, stderr } = await rxpool(['map', './nowhere.mjs'], '1\n');
  assert.equal(code, 3);
  assert.match(
    stderr,
    /cannot find the task module '\.\/nowhere\.mjs' \(looked at .*nowhere\.mjs\)/,
  );
});

test('a module that throws while it loads exits 3 with its error', async () => {
  const { code, stderr } = await rxpool(['map', './cli-broken.mjs'], '1\n');
  assert.equal(code, 3);
  assert.match(
    stderr,
    /cannot load the task module '\.\/cli-broken\.mjs': Error: broken at load time/,
  );
});

test('a missing export exits 3 and names the exports there are, before reading input', async () => {
  const { code, stdout, stderr } = await rxpool(['map', TASK, 'tripple'], 'not even json\n');
  assert.equal(code, 3);
  assert.equal(stdout, '');
  assert.match(
    stderr,
    /has no export named 'tripple'; its function exports are: alwaysFails, bigint, default, echo, failOnThree, flaky\n$/,
  );
  const notFunction = await rxpool(['map', TASK, 'answer'], '1\n');
  assert.equal(notFunction.code, 3);
  assert.match(notFunction.stderr, /exports 'answer' as a number, not a function/);
});

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

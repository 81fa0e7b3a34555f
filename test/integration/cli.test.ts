/**
 * End-to-end tests of the `rxpool` command line (helpers in ./_cli.ts): results, order, streaming
 * and backpressure, the command line's own mistakes and the task module's.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  byNumber,
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

test('runs a TypeScript task module, in blocks and line by line', async () => {
  // The workers load it as the pool loads any .ts task: tsx, found from the module's folder, on
  // a Node that does not strip types.
  for (const extra of [[], ['--on-error', 'settle']]) {
    const cubes = await rxpool(['map', 'typed.ts', ...extra], '2\n3\n');
    assert.equal(cubes.code, 0, cubes.stderr);
    const values = parseLines(cubes.stdout).map((v) => (extra.length > 0 ? (v as any).value : v));
    assert.deepEqual(values, [8, 27]);
  }
  const norm = await rxpool(['map', 'typed.ts', 'norm'], '{"x":3,"y":4}\n');
  assert.equal(norm.stdout, '5\n');
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

/**
 * The environment without the compile cache's switches: `NODE_COMPILE_CACHE` alone would turn
 * the cache on, and `NODE_DISABLE_COMPILE_CACHE` turns it off even when empty.
 */
function withoutCacheSwitches(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_COMPILE_CACHE: _on, NODE_DISABLE_COMPILE_CACHE: _off, ...rest } = env;
  return rest;
}

// Node 22.1 and later have a compile cache: the modules are cached there. Node 20 has none: the
// command line goes on without one, and writes nothing (CI runs this file on 20, 22 and 24).
const hasCompileCache = 'enableCompileCache' in nodeModule;

test(
  hasCompileCache
    ? "turns on Node's compile cache for the modules it loads"
    : `runs on Node ${process.version}, which has no compile cache, and caches nothing`,
  () => {
    // The cache goes to the temporary folder, which TMPDIR names.
    const temp = mkdtempSync(join(tmpdir(), 'rxpool-cli-cache-'));
    try {
      const run = spawnSync(process.execPath, [CLI, 'map', TASK], {
        cwd: FIXTURES,
        input: '1\n',
        env: { ...withoutCacheSwitches(process.env), TMPDIR: temp },
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout, '2\n');
      // Node keeps a folder per version in it, holding an entry per module compiled.
      const cache = join(temp, 'node-compile-cache');
      if (!hasCompileCache) {
        assert.equal(existsSync(cache), false, `${cache} was written`);
        return;
      }
      const entries = readdirSync(cache, { recursive: true, withFileTypes: true });
      assert.ok(
        entries.some((entry) => entry.isFile()),
        `nothing was cached in ${cache}`,
      );
    } finally {
      rmSync(temp, { recursive: true, force: true });
    }
  },
);

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

test('a missing export exits 3 and names the exports there are, and writes nothing', async () => {
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

test('blocks that ran while the export was checked are dropped when the check fails', async () => {
  // Blocks go to the workers while the check is made: each fails as its module does not load.
  const input = ndjson(range(100_000));
  for (const [args, why] of [
    [['map', TASK, 'tripple'], /has no export named 'tripple'/],
    [['map', './cli-broken.mjs'], /cannot load the task module .*broken at load time/],
  ] as const) {
    const { code, stdout, stderr } = await rxpool(args, input);
    assert.equal(code, 3);
    assert.equal(stdout, '');
    assert.match(stderr, why);
    assert.equal(stderr.split('\n').filter(Boolean).length, 1, stderr);
  }
});

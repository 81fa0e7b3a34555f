/**
 * `rxpool map` with exports that return many values (sync and async generators, an async function
 * that resolves to one, arrays with `--flat`): one line per value, zero for an empty one, in
 * order and `--unordered`, on both paths (blocks, the default, and line by line, which
 * `--concurrency` below a block selects), and what a failure after some values writes in each
 * `--on-error` mode (none of that line's values), with `--retry` (each value once).
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { collectOutput } from '../support/child.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const TASK = './cli-flat.mjs';
const SAFETY_MS = 60_000;
const T = { timeout: 120_000 };

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const children = new Set<ChildProcessWithoutNullStreams>();
after(() => {
  for (const child of children) child.kill();
});
const dir = mkdtempSync(join(tmpdir(), 'rxpool-cli-flat-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `rxpool ...args` in test/fixtures with `input` on stdin. */
function rxpool(args: readonly string[], input: string): Promise<Result> {
  assert.ok(existsSync(CLI), `${CLI} is missing: run npm run build`);
  const child = spawn(process.execPath, [CLI, ...args], { cwd: FIXTURES });
  children.add(child);
  const timer = setTimeout(() => child.kill(), SAFETY_MS);
  const output = collectOutput(child);
  child.stdin.on('error', () => {});
  child.stdin.end(input);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stdout: output.stdout(), stderr: output.stderr() });
    });
  });
}

const ndjson = (values: readonly unknown[]) => values.map((v) => `${JSON.stringify(v)}\n`).join('');
const parseLines = (text: string): any[] =>
  text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line));

/** 1,500 lines giving 0, 1, 2 or 3 values each (blank lines between some). */
const inputs = Array.from({ length: 1500 }, (_, id) => ({ id, n: id % 4 }));
const expected = inputs.flatMap(({ id, n }) => Array.from({ length: n }, (_, k) => ({ id, k })));

/** The paths of `rxpool map`: blocks of lines (default), or line by line. */
const paths = [
  ['blocks', []],
  ['line by line', ['--concurrency', '64']],
] as const;

/** Each line's values come together, in their order (`--unordered` keeps a line's values whole). */
function assertGrouped(got: { id: number; k: number }[]): void {
  assert.deepEqual(
    [...got].sort((a, b) => a.id - b.id || a.k - b.k),
    expected,
  );
  for (let i = 0; i < got.length; i++) {
    const { id, k } = got[i]!;
    if (k > 0) assert.deepEqual(got[i - 1], { id, k: k - 1 }, `line ${id}'s values together`);
  }
}

for (const [path, extra] of paths) {
  describe(`rxpool map, many values a line (${path})`, () => {
    for (const name of ['spread', 'spreadAsync', 'later']) {
      it(`${name}: one line per value, none for an empty one, in order`, T, async () => {
        const text = ndjson(inputs).replace(/\n(?=\{"id":7,)/, '\n\n   \n');
        const { code, stdout, stderr } = await rxpool(
          ['map', TASK, name, '--workers', '2', ...extra],
          text,
        );
        assert.equal(stderr, '');
        assert.equal(code, 0);
        assert.deepEqual(parseLines(stdout), expected);
      });
    }

    it('--unordered: every value once, each line values together and in order', T, async () => {
      const { code, stdout } = await rxpool(
        ['map', TASK, 'spreadAsync', '--workers', '2', '--unordered', ...extra],
        ndjson(inputs),
      );
      assert.equal(code, 0);
      assertGrouped(parseLines(stdout));
    });

    it('an array is one value; with --flat, one line per item', T, async () => {
      const few = inputs.slice(0, 8);
      const plain = await rxpool(['map', TASK, 'list', '--workers', '2', ...extra], ndjson(few));
      assert.equal(plain.code, 0);
      assert.deepEqual(
        parseLines(plain.stdout),
        few.map(({ id, n }) => Array.from({ length: n }, (_, k) => ({ id, k }))),
      );
      const flat = await rxpool(
        ['map', TASK, 'list', '--flat', '--workers', '2', ...extra],
        ndjson(inputs),
      );
      assert.equal(flat.code, 0);
      assert.deepEqual(parseLines(flat.stdout), expected);
    });

    for (const async of [false, true]) {
      const lines = [
        { id: 0, n: 2 },
        { id: 1, n: 3, fail: true, async },
        { id: 2, n: 1 },
      ];
      const kind = async ? 'async' : 'sync';

      it(
        `--on-error fail: a ${kind} failure after some values writes none of them`,
        T,
        async () => {
          const { code, stdout, stderr } = await rxpool(
            ['map', TASK, 'failAfter', '--workers', '1', ...extra],
            ndjson(lines),
          );
          assert.equal(code, 1);
          assert.deepEqual(parseLines(stdout), [
            { id: 0, k: 0 },
            { id: 0, k: 1 },
          ]);
          assert.match(stderr, /line 2 .*line 1 failed after 3 values/);
        },
      );

      it(
        `--on-error skip: a ${kind} failed line's values are left out; the rest go on`,
        T,
        async () => {
          const { code, stdout, stderr } = await rxpool(
            ['map', TASK, 'failAfter', '--workers', '1', '--on-error', 'skip', ...extra],
            ndjson(lines),
          );
          assert.equal(code, 5);
          assert.deepEqual(parseLines(stdout), [
            { id: 0, k: 0 },
            { id: 0, k: 1 },
            { id: 2, k: 0 },
          ]);
          assert.match(stderr, /line 2 skipped: .*line 1 failed after 3 values/);
        },
      );
    }
  });
}

describe('rxpool map, many values a line: settle, retry, a value JSON cannot hold', () => {
  it('--on-error settle: a record per value; a failed line is one failed record', T, async () => {
    const lines = [
      { id: 0, n: 2 },
      { id: 1, n: 3, fail: true },
      { id: 2, n: 0 },
      { id: 3, n: 1 },
    ];
    const { code, stdout } = await rxpool(
      ['map', TASK, 'failAfter', '--workers', '2', '--on-error', 'settle'],
      ndjson(lines),
    );
    assert.equal(code, 0);
    const records = parseLines(stdout);
    assert.deepEqual(
      records.map((r) => [
        r.ok,
        r.index,
        r.line,
        r.ok ? r.value : r.error.message.replace(/^.*: Error: /, ''),
      ]),
      [
        [true, 0, 1, { id: 0, k: 0 }],
        [true, 0, 1, { id: 0, k: 1 }],
        [false, 1, 2, 'line 1 failed after 3 values'],
        [true, 3, 4, { id: 3, k: 0 }],
      ],
    );
    assert.deepEqual(records[0].input, lines[0]);
  });

  it(
    '--retry: a line that fails after some values and then succeeds writes each value once',
    T,
    async () => {
      const lines = [{ id: 0 }, { id: 1 }];
      const { code, stdout, stderr } = await rxpool(
        ['map', TASK, 'failOnce', '--workers', '1', '--retry', '1'],
        ndjson(lines),
      );
      assert.equal(stderr, '');
      assert.equal(code, 0);
      assert.deepEqual(parseLines(stdout), [
        { id: 0, k: 0, attempt: 2 },
        { id: 0, k: 1, attempt: 2 },
        { id: 1, k: 0, attempt: 2 },
        { id: 1, k: 1, attempt: 2 },
      ]);
    },
  );

  it(
    'a block whose worker is lost runs again line by line: its lines still give many values',
    T,
    async () => {
      const { code, stdout, stderr } = await rxpool(
        ['map', TASK, 'spreadOrExit', '--workers', '2', '--on-error', 'skip'],
        ndjson(inputs.slice(0, 40)),
      );
      assert.equal(code, 5);
      assert.match(stderr, /line 8 skipped: lost its worker/);
      assert.deepEqual(
        parseLines(stdout),
        expected.filter((v) => v.id < 40 && v.id !== 7),
      );
    },
  );

  for (const [path, extra] of paths) {
    it(
      `a value JSON cannot hold fails its line, and the generator is closed (${path})`,
      T,
      async () => {
        const done = join(dir, `closed-${path.replace(/ /g, '-')}`);
        const { code, stdout, stderr } = await rxpool(
          ['map', TASK, 'unwritable', '--workers', '1', '--on-error', 'skip', ...extra],
          ndjson([{ id: 0, done }]),
        );
        assert.equal(code, 5);
        assert.equal(stdout, '');
        assert.match(stderr, /line 1 skipped: .*BigInt/);
        assert.equal(readFileSync(done, 'utf8'), 'closed');
      },
    );
  }
});

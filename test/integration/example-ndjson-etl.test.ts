/**
 * Smoke test of examples/ndjson-etl: on a small generated file, the command line writes the
 * enriched valid lines in input order and exactly the bad lines to the rejects file, with their
 * line numbers and reasons, and reports the counts; the pipeline's middle stage reads its input
 * only as fast as the window lets it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Failure } from 'rxpool';
import { type Reject, transformLines } from '../../examples/ndjson-etl/etl.js';
import { generateNdjson } from '../../examples/ndjson-etl/generate.js';
import { transformLine } from '../../examples/ndjson-etl/transform.mjs';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'rxpool-ndjson-etl-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const readLines = (path: string) => readFileSync(path, 'utf8').split('\n').slice(0, -1);

test('the command line enriches the valid lines in order and routes exactly the bad ones to rejects', async () => {
  const out = join(dir, 'run');
  // start.mjs, as the npm script: it registers tsx and runs main.ts.
  const { stdout } = await run(
    process.execPath,
    ['examples/ndjson-etl/start.mjs', '--mb', '3', '--seed', '7', '--out', out],
    { cwd: root, timeout: 120_000 },
  );

  // The same seed makes the same file; this copy also says which lines are bad.
  const expected = await generateNdjson(join(dir, 'again.ndjson'), { bytes: 3e6, seed: 7 });
  const input = readLines(join(out, 'input.ndjson'));
  assert.deepEqual(input, readLines(join(dir, 'again.ndjson')));
  assert.equal(input.length, expected.lines);
  const malformed = expected.bad.filter((b) => b.kind === 'malformed');
  assert.ok(malformed.length > 0 && malformed.length < expected.bad.length, 'both kinds of bad');

  const badLines = new Set(expected.bad.map((b) => b.line));
  const good = input.filter((_, i) => !badLines.has(i + 1));
  assert.deepEqual(readLines(join(out, 'output.ndjson')), good.map(transformLine));

  const rejects = readLines(join(out, 'rejects.ndjson')).map((line) => JSON.parse(line) as Reject);
  assert.deepEqual(
    rejects.map((r) => r.line),
    expected.bad.map((b) => b.line),
  );
  rejects.forEach((reject, i) => {
    const bad = expected.bad[i]!;
    assert.equal(reject.text, input[bad.line - 1]);
    if (bad.kind === 'malformed') assert.match(reject.reason, /^SyntaxError: /);
    else
      assert.ok(
        reject.reason.startsWith(`ValidationError: ${bad.field}: expected `),
        reject.reason,
      );
  });

  const counts = `lines: ${input.length.toLocaleString('en-US')} in, ${good.length.toLocaleString('en-US')} out, ${expected.bad.length.toLocaleString('en-US')} rejected`;
  assert.ok(stdout.includes(counts), stdout);
  assert.match(stdout, /^time: \d+\.\d\d s \(\d+\.\d MB\/s, [\d,]+ lines\/s\)$/m);
  assert.match(stdout, /^peak RSS: \d+ MiB$/m);
});

test('transformLines reads its input only as fast as the window lets it', async () => {
  const path = join(dir, 'window.ndjson');
  const { lines } = await generateNdjson(path, { bytes: 1e6, seed: 11 });
  const input = readLines(path);
  const WINDOW = 64;
  const BLOCK = 10;
  let pulled = 0;
  let answered = 0;
  let widest = 0;
  async function* blocks() {
    for (let i = 0; i < input.length; i += BLOCK) {
      const block = input.slice(i, i + BLOCK);
      pulled += block.length;
      widest = Math.max(widest, pulled - answered);
      yield block;
    }
  }
  const rejected: Failure<string>[] = [];
  let out = 0;
  for await (const block of transformLines(
    blocks(),
    { next: (f) => rejected.push(f) },
    {
      window: WINDOW,
      batchSize: 16,
    },
  )) {
    out += block.length;
    answered = out + rejected.length;
  }
  assert.equal(out + rejected.length, lines);
  // In the workers: at most WINDOW; read ahead: one block; enriched and not yet handed on: at
  // most WINDOW and a block. Without the pull, the whole file would be read ahead.
  assert.ok(widest <= 2 * WINDOW + 2 * BLOCK, `${widest} lines were read and not yet answered`);
  assert.ok(lines > 20 * widest);
});

/**
 * `rxpool map` against the single-threaded loop a user writes without it (readline, `JSON.parse`,
 * the task, `JSON.stringify`) on a generated file of odd lines: blank and whitespace-only lines,
 * `\r\n` line ends, lines far longer than a read, non-ASCII text split across reads, a last line
 * without its line end, and (in `skip` / `settle` mode) lines that are not JSON. The output must
 * be byte-identical to the loop's, in order, and the same lines with `--unordered`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  closeSync,
  createReadStream,
  existsSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const TASK = './cli-lines.mjs';
const { reshape } = (await import(new URL('../fixtures/cli-lines.mjs', import.meta.url).href)) as {
  reshape: (value: unknown) => unknown;
};

let dir: string;
let good: string;
let mixed: string;

/** Lines of every odd kind; with `bad`, some that are not JSON too. */
function oddLines(bad: boolean): string {
  const parts: string[] = [];
  const words = ['Grüße', 'naïve café', '日本語のテキスト', 'emoji 😀🎉 here', 'Ελληνικά', 'ascii'];
  for (let i = 0; i < 6000; i++) {
    const text = `${words[i % words.length]} ${'ü€😀'.repeat(i % 37)}`;
    let line = JSON.stringify({ n: i, text, tags: i % 3 === 0 ? ['a', 'ß'] : [] });
    if (i % 97 === 0) line = `  ${line}  `; // spaces around the value
    if (i % 101 === 0) parts.push(''); // a blank line
    if (i % 103 === 0) parts.push('   \t '); // a whitespace-only line
    if (i % 211 === 0) parts.push('\u00a0\u3000'); // a line of Unicode spaces (blank to trim())
    if (i % 89 === 0) line += '\r'; // a \r\n line end
    if (i === 1000) line = JSON.stringify({ n: i, text: 'é'.repeat(3_000_000) }); // 6 MB
    if (i === 2500) line = JSON.stringify('x'.repeat(200_000));
    if (i % 7 === 0) line = String(i);
    if (bad && i % 53 === 0) line = `{not json ${i}`;
    if (bad && i === 4000) line = 'ünïcödé, not JSON either';
    parts.push(line);
  }
  // the last line has no line end
  return `${parts.join('\n')}\n${JSON.stringify({ n: -1, text: 'the end' })}`;
}

before(() => {
  assert.ok(existsSync(CLI), `${CLI} is missing: run npx tsc -p tsconfig.build.json`);
  dir = mkdtempSync(join(tmpdir(), 'rxpool-cli-lines-'));
  good = join(dir, 'good.ndjson');
  mixed = join(dir, 'mixed.ndjson');
  writeFileSync(good, oddLines(false));
  writeFileSync(mixed, oddLines(true));
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** What the single-threaded loop writes for `file`, in each `--on-error` mode, and the skipped lines. */
async function loop(file: string, mode: 'fail' | 'skip' | 'settle') {
  let out = '';
  let index = 0;
  let line = 0;
  const skipped: number[] = [];
  for await (const text of createInterface({
    input: createReadStream(file),
    crlfDelay: Infinity,
  })) {
    line++;
    if (text.trim() === '') continue;
    let input: unknown;
    try {
      input = JSON.parse(text);
    } catch (error) {
      if (mode === 'skip') skipped.push(line);
      else if (mode === 'settle') {
        const { name, message } = error as Error;
        out += `${JSON.stringify({ ok: false, index, line, input: text, error: { name, message } })}\n`;
      } else throw error;
      index++;
      continue;
    }
    const value = reshape(input);
    out += `${JSON.stringify(mode === 'settle' ? { ok: true, index, line, input, value } : value)}\n`;
    index++;
  }
  return { out, skipped };
}

/**
 * Runs `rxpool map` with `file` on stdin (the file itself, read a block at a time into block memory;
 * with `pipe`, a pipe that this process writes it to, read 64 KB at most at a time), its stdout
 * collected as bytes.
 */
function rxpool(
  args: readonly string[],
  file: string,
  pipe = false,
): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const stdin = pipe ? 'pipe' : openSync(file, 'r');
  const child = spawn(process.execPath, [CLI, 'map', TASK, ...args], {
    cwd: FIXTURES,
    stdio: [stdin, 'pipe', 'pipe'],
  });
  if (typeof stdin === 'number') closeSync(stdin);
  else createReadStream(file).pipe(child.stdin!);
  const chunks: Buffer[] = [];
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => chunks.push(chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(chunks), stderr }));
  });
}

const sorted = (text: string) => text.split('\n').sort().join('\n');

test('odd lines: the output is byte-identical to the single-threaded loop, in order and unordered', async () => {
  const { out } = await loop(good, 'fail');
  for (const workers of ['1', '2']) {
    const ordered = await rxpool(['reshape', '--workers', workers], good);
    assert.equal(ordered.stderr, '');
    assert.equal(ordered.code, 0);
    assert.ok(
      ordered.stdout.equals(Buffer.from(out)),
      `ordered output differs (${workers} workers)`,
    );
    const unordered = await rxpool(['reshape', '--unordered', '--workers', workers], good);
    assert.equal(unordered.code, 0);
    assert.equal(sorted(unordered.stdout.toString()), sorted(out));
  }
});

test('odd lines through a pipe (blocks cut from many small reads): the same bytes', async () => {
  const { out } = await loop(good, 'fail');
  for (const extra of [[], ['--unordered']]) {
    const result = await rxpool(['reshape', '--workers', '2', ...extra], good, true);
    assert.equal(result.stderr, '');
    assert.equal(result.code, 0);
    if (extra.length === 0) assert.ok(result.stdout.equals(Buffer.from(out)), 'the output differs');
    else assert.equal(sorted(result.stdout.toString()), sorted(out));
  }
});

test('odd lines, one line per item (--concurrency below a block): the same bytes', async () => {
  const { out } = await loop(good, 'fail');
  const result = await rxpool(['reshape', '--concurrency', '64'], good);
  assert.equal(result.code, 0);
  assert.ok(result.stdout.equals(Buffer.from(out)), 'the output differs');
});

test('odd lines with bad ones, --on-error skip: the loop minus the bad lines, each reported by number', async () => {
  const { out, skipped } = await loop(mixed, 'skip');
  assert.ok(skipped.length > 100);
  const result = await rxpool(['reshape', '--on-error', 'skip'], mixed);
  assert.equal(result.code, 5);
  assert.ok(result.stdout.equals(Buffer.from(out)), 'the output differs');
  const reported = [...result.stderr.matchAll(/^rxpool: line (\d+) skipped: not JSON: /gm)].map(
    (m) => Number(m[1]),
  );
  assert.deepEqual(reported, skipped);
  assert.match(
    result.stderr,
    new RegExp(`rxpool: ${skipped.length} lines failed and were skipped\\n$`),
  );
  const unordered = await rxpool(['reshape', '--on-error', 'skip', '--unordered'], mixed);
  assert.equal(unordered.code, 5);
  assert.equal(sorted(unordered.stdout.toString()), sorted(out));
  const seen = [...unordered.stderr.matchAll(/^rxpool: line (\d+) skipped/gm)].map((m) =>
    Number(m[1]),
  );
  assert.deepEqual(
    seen.sort((a, b) => a - b),
    skipped,
  );
});

test('odd lines with bad ones, --on-error settle: byte-identical records, in order and unordered', async () => {
  const { out } = await loop(mixed, 'settle');
  const ordered = await rxpool(['reshape', '--on-error', 'settle'], mixed);
  assert.equal(ordered.code, 0);
  assert.equal(ordered.stderr, '');
  assert.ok(ordered.stdout.equals(Buffer.from(out)), 'the output differs');
  const unordered = await rxpool(['reshape', '--on-error', 'settle', '--unordered'], mixed);
  assert.equal(unordered.code, 0);
  assert.equal(sorted(unordered.stdout.toString()), sorted(out));
});

test('odd lines with bad ones, --on-error fail: the lines before the first bad one (unordered: those done by then), then exit 4 naming it', async () => {
  const { out } = await loop(good, 'fail');
  // the first bad line of `mixed` is line 1 (i = 0); a file whose bad line comes later:
  const file = join(dir, 'late-bad.ndjson');
  const lines = out.split('\n').slice(0, 3000);
  writeFileSync(file, `${lines.join('\n')}\n{oops\n${lines.join('\n')}\n`);
  const outputs = lines.map((l) => JSON.stringify(reshape(JSON.parse(l))));
  const ordered = await rxpool(['reshape'], file);
  assert.equal(ordered.code, 4);
  assert.match(ordered.stderr, /^rxpool: line 3001 is not JSON: /);
  assert.equal(ordered.stdout.toString(), `${outputs.join('\n')}\n`);
  // Unordered, the stream stops as soon as the failure is known: what is written is the results
  // finished by then (from either side of the bad line), each whole, none twice.
  const unordered = await rxpool(['reshape', '--unordered'], file);
  assert.equal(unordered.code, 4);
  assert.match(unordered.stderr, /^rxpool: line 3001 is not JSON: /);
  const left = new Map<string, number>();
  for (const line of outputs) left.set(line, (left.get(line) ?? 0) + 2); // the file has each twice
  const got = unordered.stdout.toString();
  assert.ok(got === '' || got.endsWith('\n'), 'whole lines');
  for (const line of got.split('\n').slice(0, -1)) {
    const count = left.get(line);
    assert.ok(count, `a line that is no good line's output, or one too many: ${line.slice(0, 80)}`);
    left.set(line, count - 1);
  }
});

test('a line that takes its worker down fails alone, named by its number; the lines before it are written', async () => {
  const input = `${Array.from({ length: 20 }, (_, i) => String(i + 1)).join('\n')}\n`;
  const file = join(dir, 'exit.ndjson');
  writeFileSync(file, `\n${input}`);
  const failed = await rxpool(['exitOnSeven'], file);
  assert.equal(failed.code, 1);
  assert.equal(failed.stdout.toString(), '2\n4\n6\n8\n10\n12\n');
  assert.match(failed.stderr, /^rxpool: line 8 lost its worker after 1 attempt: /);
  const skipped = await rxpool(['exitOnSeven', '--on-error', 'skip'], file);
  assert.equal(skipped.code, 5);
  assert.equal(
    skipped.stdout.toString(),
    `${Array.from({ length: 20 }, (_, i) => i + 1)
      .filter((n) => n !== 7)
      .map((n) => n * 2)
      .join('\n')}\n`,
  );
  assert.match(skipped.stderr, /^rxpool: line 8 skipped: lost its worker after 1 attempt: /);
});

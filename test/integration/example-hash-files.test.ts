/**
 * Smoke test of examples/hash-files: on a fixture tree (nested folders, an empty file, a file
 * larger than the task's read block, awkward names), the command line prints what `sha256sum`
 * prints for the same files, and a summary; `hashFiles` reports its progress to the end.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Progress } from 'rxpool';
import {
  checksumLine,
  HashProgressBar,
  hashFiles,
  listFiles,
} from '../../examples/hash-files/hash-files.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'rxpool-hash-files-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const files: Record<string, string | Buffer> = {
  'a.txt': 'hello\n',
  'empty.txt': '',
  'large.bin': randomBytes(3 * (1 << 20) + 12_345),
  'with space.txt': 'spaces in the name\n',
  'back\\slash.txt': 'sha256sum escapes this name\n',
  'sub/b.txt': 'b\n',
  'sub/deeper/c.json': '{"c": 3}\n',
  'sub/deeper/still/d': randomBytes(70_000),
};
for (const [name, content] of Object.entries(files)) {
  mkdirSync(join(dir, name, '..'), { recursive: true });
  writeFileSync(join(dir, name), content);
}
mkdirSync(join(dir, 'empty-folder'));
const totalBytes = Object.values(files).reduce((sum, c) => sum + Buffer.byteLength(c), 0);

/** What `sha256sum` prints for every file that `find DIR -type f` lists. */
async function sha256sum(): Promise<string[]> {
  const { stdout: found } = await run('find', [dir, '-type', 'f', '-print0']);
  const paths = found.split('\0').filter(Boolean);
  assert.equal(paths.length, Object.keys(files).length);
  const { stdout } = await run('sha256sum', ['--', ...paths]);
  return stdout.trimEnd().split('\n').sort();
}

test('main.ts prints what sha256sum prints for the same files, and a summary', async () => {
  const { stdout, stderr } = await run(
    process.execPath,
    ['--import', 'tsx', 'examples/hash-files/main.ts', dir],
    { cwd: root, timeout: 60_000 },
  );
  // Completion order: compare as sets.
  assert.deepEqual(stdout.trimEnd().split('\n').sort(), await sha256sum());
  assert.match(stdout, /^\\[0-9a-f]{64} {2}.*back\\\\slash\.txt$/m);
  const summary = /^hashed: (\d+) files, (\d+) bytes in \d+\.\d\d s \(\d+\.\d MB\/s\)/m.exec(
    stderr,
  );
  assert.ok(summary, stderr);
  assert.equal(Number(summary[1]), Object.keys(files).length);
  assert.equal(Number(summary[2]), totalBytes);
});

test('main.ts counts in the singular where there is one: "1 file, 1 byte"', async () => {
  const one = mkdtempSync(join(tmpdir(), 'rxpool-hash-one-'));
  try {
    writeFileSync(join(one, 'x'), 'x');
    const { stderr } = await run(
      process.execPath,
      ['--import', 'tsx', 'examples/hash-files/main.ts', one],
      { cwd: root, timeout: 60_000 },
    );
    assert.match(stderr, /^hashed: 1 file, 1 byte in .* on \d+ workers?, /m);
    const workers = Number(/ on (\d+) worker/.exec(stderr)?.[1]);
    assert.match(stderr, workers === 1 ? / on 1 worker, / : / on \d+ workers, /);
  } finally {
    rmSync(one, { recursive: true, force: true });
  }
});

test('main.ts refuses a path that is not a directory', async () => {
  await assert.rejects(
    run(process.execPath, ['--import', 'tsx', 'examples/hash-files/main.ts', join(dir, 'a.txt')], {
      cwd: root,
      timeout: 60_000,
    }),
    (error: { code: number; stderr: string }) =>
      error.code === 2 && /a\.txt: not a directory/.test(error.stderr),
  );
});

test('hashFiles hashes every listed file and reports its progress up to a final report', async () => {
  const paths = await listFiles(dir);
  assert.equal(paths.length, Object.keys(files).length);
  const reports: Progress[] = [];
  const lines: string[] = [];
  const summary = await hashFiles(paths, {
    onHash: ({ hex, path }) => lines.push(checksumLine(hex, path)),
    progress: (p) => reports.push(p),
  });
  assert.deepEqual(lines.sort(), await sha256sum());
  assert.equal(summary.files, paths.length);
  assert.equal(summary.bytes, totalBytes);
  const last = reports.at(-1);
  assert.ok(last);
  assert.equal(last.final, true);
  assert.equal(last.done, paths.length);
  assert.equal(last.total, paths.length);
  assert.equal(last.failed, 0);
  assert.equal(last.inFlight, 0);
});

test('checksumLine escapes as GNU sha256sum does', () => {
  const hex = 'ab'.repeat(32);
  assert.equal(checksumLine(hex, 'dir/a b.txt'), `${hex}  dir/a b.txt`);
  assert.equal(checksumLine(hex, 'a\\b\nc\rd'), `\\${hex}  a\\\\b\\nc\\rd`);
});

test('HashProgressBar draws what the progress reports say on a terminal, then erases itself', () => {
  const terminal = Object.assign(new PassThrough(), { isTTY: true, columns: 120 });
  let drawn = '';
  terminal.on('data', (chunk: Buffer) => {
    drawn += chunk.toString();
  });
  const bar = new HashProgressBar(40, terminal);
  bar.hashed(2_500_000);
  bar.progress({
    done: 10,
    failed: 0,
    inFlight: 4,
    total: 40,
    elapsedMs: 1000,
    rate: 10,
    etaMs: 3000,
    final: false,
  });
  bar.stop();
  assert.match(drawn, /25% \| 10\/40 files \| 2\.5 MB \| 10 files\/s \| ETA 3\.0 s/);
  // Erased at the end (clear line) and the cursor shown again.
  assert.ok(drawn.endsWith('\x1b[2K'), JSON.stringify(drawn.slice(-40)));
  assert.ok(drawn.includes('\x1b[?25h'));
});

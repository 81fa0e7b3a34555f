/**
 * Every example's npm script works on a fresh clone right after `npm ci`, before anyone ran
 * `npm run build`: the project's files (what git holds, untracked ones too) are copied to a
 * temporary folder without dist/, node_modules is linked in (what `npm ci` gives), and each
 * `example:*` script and `start` runs there with a small input, the first with no dist/ at all.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  appendFile,
  copyFile,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let clone = '';

/** Small arguments for each script, and a line its output must have. */
const cases: Record<string, { args: (dir: string) => string[]; prints: RegExp }> = {
  start: {
    args: (dir) => ['--width', '64', '--height', '48', '--out', join(dir, 'tile.png')],
    prints: /speedup/i,
  },
  'example:hash-files': {
    args: (dir) => [join(dir, 'to-hash')],
    // sha256 of "hello\n"
    prints: /^5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03 {2}.*a\.txt$/m,
  },
  'example:ndjson-etl': {
    args: (dir) => ['--mb', '1', '--out', join(dir, 'etl')],
    prints: /rejected/i,
  },
  'example:signal': {
    args: () => ['--samples', '100003'],
    prints: /same result as one thread: yes/,
  },
  'example:split-csv': {
    args: (dir) => ['--files', '2', '--rows', '2000', '--dir', join(dir, 'sales')],
    prints: /records: 4,000/,
  },
  'example:word-count': {
    args: (dir) => ['--mb', '1', '--corpus', join(dir, 'corpus.txt')],
    prints: /words/i,
  },
  'example:tracing': {
    args: () => ['--items', '3'],
    prints: /task spans that are children of their caller's span: 6 of 6/,
  },
  'example:cluster': {
    args: () => ['--items', '40', '--n', '24'],
    prints: /speedup over one thread: \d/,
  },
};

before(async () => {
  clone = await mkdtemp(join(tmpdir(), 'rxpool-clone-'));
  const { stdout } = await run(
    'git',
    ['ls-files', '-z', '--cached', '--others', '--exclude-standard'],
    { cwd: root, maxBuffer: 16 * 1024 * 1024 },
  );
  for (const file of stdout.split('\0').filter((f) => f !== '' && existsSync(join(root, f)))) {
    await mkdir(dirname(join(clone, file)), { recursive: true });
    await copyFile(join(root, file), join(clone, file));
  }
  await symlink(join(root, 'node_modules'), join(clone, 'node_modules'), 'dir');
  await mkdir(join(clone, 'scratch', 'to-hash'), { recursive: true });
  await writeFile(join(clone, 'scratch', 'to-hash', 'a.txt'), 'hello\n');
});
after(() => rm(clone, { recursive: true, force: true }));

test('each example script runs right after npm ci, with no dist/ built', async () => {
  const { scripts } = JSON.parse(await readFile(join(clone, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  const names = Object.keys(scripts).filter(
    (name) => name === 'start' || name.startsWith('example:'),
  );
  assert.deepEqual(names.sort(), Object.keys(cases).sort(), 'a script here has no case above');
  // Each script runs scripts/fresh-dist.mjs before anything that reads dist/; what that does does
  // not depend on the script that runs it, so one run from no dist/ (the first script's) shows
  // that it builds, and the others run on what it built (a build per script took most of the
  // suite's time and showed nothing more).
  for (const name of names) {
    assert.match(
      scripts[name]!,
      /^(sh scripts\/ensure-redis\.sh && )?node scripts\/fresh-dist\.mjs && /,
      `npm run ${name} brings dist/ up to date first`,
    );
  }
  await rm(join(clone, 'dist'), { recursive: true, force: true });
  for (const name of names) {
    const { args, prints } = cases[name]!;
    let stdout: string;
    try {
      ({ stdout } = await run(npm, ['run', '-s', name, '--', ...args(join(clone, 'scratch'))], {
        cwd: clone,
        timeout: 120_000,
        maxBuffer: 16 * 1024 * 1024,
      }));
    } catch (error) {
      const { stderr, message } = error as { stderr?: string; message: string };
      assert.fail(`npm run ${name} failed on a fresh clone: ${stderr || message}`);
    }
    assert.match(stdout, prints, `npm run ${name} printed:\n${stdout}`);
    assert.ok(existsSync(join(clone, 'dist/.sources')), `npm run ${name} left dist/ built`);
  }
});

test("the examples' scripts rebuild dist/ only when a source changed (by content, not time)", async () => {
  const fresh = (): Promise<{ stderr: string }> =>
    run(process.execPath, ['scripts/fresh-dist.mjs'], {
      cwd: clone,
      timeout: 120_000,
      maxBuffer: 16 * 1024 * 1024,
    });
  const built = join(clone, 'dist/src/index.js');
  await fresh();
  const first = (await stat(built)).mtimeMs;
  assert.equal((await fresh()).stderr, '', 'dist/ was current: nothing to say, nothing built');
  assert.equal((await stat(built)).mtimeMs, first);
  // Touched, not changed (a checkout, a copy): still current.
  const source = join(clone, 'src/errors.ts');
  const later = new Date(Date.now() + 5_000);
  await utimes(source, later, later);
  assert.equal((await fresh()).stderr, '');
  assert.equal((await stat(built)).mtimeMs, first);
  // Changed: built again, and the change is in dist/.
  await appendFile(source, '\nexport const freshDistProbe = 1;\n');
  assert.match((await fresh()).stderr, /the sources changed since dist\/ was built/);
  assert.match(await readFile(join(clone, 'dist/src/errors.js'), 'utf8'), /freshDistProbe/);
  assert.equal((await fresh()).stderr, '');
});

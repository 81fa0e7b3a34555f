/**
 * The packed tarball works when installed into an empty project: both entry points import, and an
 * item runs through a worker.
 *
 * `npm pack` would run the prepack build (which deletes dist/); this test packs the dist/ that is
 * already built, with --ignore-scripts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

const script = `
import { createPool, task, TaskError } from 'rxpool';
import { parallelMap } from 'rxpool/operators';
import { lastValueFrom, of, toArray } from 'rxjs';

const work = async (n) => {
  const { threadId } = await import('node:worker_threads');
  return { value: n + 22, threadId };
};
const results = await lastValueFrom(of(20).pipe(parallelMap(work), toArray()));
console.log(JSON.stringify({ results, exports: [typeof createPool, typeof task, typeof TaskError] }));
`;

it(
  'installs from the tarball and runs an item through a worker',
  {
    timeout: 120_000,
  },
  async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'rxpool-pack-'));
    try {
      const { stdout: packed } = await run(
        npm,
        ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp],
        { cwd: root, maxBuffer: 16 * 1024 * 1024 },
      );
      const [info] = JSON.parse(packed) as { filename: string; files: { path: string }[] }[];
      assert.ok(info, 'npm pack reported nothing');
      const files = info.files.map((file) => file.path);
      for (const expected of [
        'package.json',
        'LICENSE',
        'dist/src/index.js',
        'dist/src/index.d.ts',
        'dist/src/worker/host.js',
        'dist/operators/index.js',
        'dist/operators/index.d.ts',
        'dist/src/cli/main.js',
        'dist/src/esbuild/plugin.js',
        'dist/src/bundled/rxpool-worker.mjs',
        'dist/src/bundled/entry/worker.js',
        'dist/src/bundled/entry/process.js',
        'dist/src/bundled/entry/package.json',
      ]) {
        assert.ok(files.includes(expected), `the tarball lacks ${expected}`);
      }
      assert.ok(!files.some((path) => path.startsWith('test/')), 'the tarball holds the tests');
      const tarball = join(tmp, info.filename);

      const project = join(tmp, 'project');
      await mkdir(project);
      await run(npm, ['init', '-y'], { cwd: project });
      const manifestPath = join(project, 'package.json');
      const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Record<string, unknown>;
      await writeFile(manifestPath, JSON.stringify({ ...manifest, type: 'module' }, null, 2));
      await run(
        npm,
        ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, 'rxjs@7.8.2'],
        { cwd: project, maxBuffer: 16 * 1024 * 1024 },
      );
      assert.ok(existsSync(join(project, 'node_modules/rxpool/dist/src/index.d.ts')));

      await writeFile(join(project, 'main.mjs'), script);
      const { stdout } = await run(process.execPath, ['main.mjs'], {
        cwd: project,
        timeout: 60_000,
      });
      const output = JSON.parse(stdout.trim()) as {
        results: { value: number; threadId: number }[];
        exports: string[];
      };
      assert.deepEqual(output.exports, ['function', 'function', 'function']);
      assert.equal(output.results.length, 1);
      assert.equal(output.results[0]!.value, 42);
      assert.ok(output.results[0]!.threadId > 0, 'the item ran on the main thread');

      // The command line is linked as a bin and runs a task module over NDJSON.
      await writeFile(join(project, 'double.mjs'), 'export default (x) => x * 2;\n');
      const cli = join(project, 'node_modules/.bin/rxpool');
      const mapped = await new Promise<string>((resolve, reject) => {
        const child = execFile(cli, ['map', './double.mjs'], { cwd: project }, (error, out) =>
          error ? reject(error) : resolve(out),
        );
        child.stdin!.end('1\n2\n3\n');
      });
      assert.equal(mapped, '2\n4\n6\n');
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  },
);

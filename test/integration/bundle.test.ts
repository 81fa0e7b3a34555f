/**
 * An app that bundles rxpool runs from its bundle alone, without node_modules: built in a project
 * where the packed rxpool is installed, then copied with its task module to a folder of its own,
 * out of reach of any node_modules (the app checks that it cannot import tinypool there), and run
 * with threads and with child processes. With esbuild and `rxpoolEsbuildPlugin()`, and with rollup
 * and `copyWorkerFiles()` (the README's configurations); built without either, the app's first
 * item fails at once with what to do, and the process exits (it used to wait forever).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { consumer, pack, pinned, run } from '../support/consumer.js';

const app = `import { createPool, task } from 'rxpool';
import { parallelMap } from 'rxpool/operators';
import { from, lastValueFrom, toArray } from 'rxjs';

// Not a string the bundler can follow: a package lookup from where the app runs.
const name = ['tiny', 'pool'].join('');
const tinypool = await import(name).then(() => 'found', () => 'absent');
const square = task(new URL('./tasks/square.mjs', import.meta.url));
const out = { tinypool };
for (const runtime of ['thread', 'process']) {
  const pool = createPool({ size: 2, runtime });
  try {
    out[runtime] = {
      module: await pool.map(square, [1, 2, 3]),
      inline: await lastValueFrom(from([1, 2]).pipe(parallelMap((n) => n + 1, { pool }), toArray())),
    };
  } catch (error) {
    out[runtime] = { error: error.message, cause: error.cause?.message };
  } finally {
    await pool.close();
  }
}
console.log(JSON.stringify(out));
`;

// The README's configurations (Bundling).
const esbuildScript = (plugin: boolean) => `import { build } from 'esbuild';
import { rxpoolEsbuildPlugin } from 'rxpool/esbuild';

await build({
  entryPoints: ['src/app.js'],
  bundle: true,
  platform: 'node',
  format: 'esm',
  outdir: process.argv[2],
  outExtension: { '.js': '.mjs' },
  logLevel: 'error',
  plugins: [${plugin ? 'rxpoolEsbuildPlugin()' : ''}],
});
`;

const rollupConfig = `import { nodeResolve } from '@rollup/plugin-node-resolve';
import { copyWorkerFiles } from 'rxpool/esbuild';

export default {
  input: 'src/app.js',
  output: { dir: 'out-rollup', format: 'es', entryFileNames: '[name].mjs' },
  plugins: [nodeResolve(), { name: 'rxpool', writeBundle: (o) => copyWorkerFiles(o.dir) }],
};
`;

let tmp: string;
let project: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'rxpool-bundle-'));
  const tarball = await pack(tmp);
  project = await consumer(join(tmp, 'project'), tarball, [
    await pinned('rxjs'),
    await pinned('esbuild'),
    await pinned('rollup'),
    await pinned('@rollup/plugin-node-resolve'),
  ]);
  await mkdir(join(project, 'src/tasks'), { recursive: true });
  await writeFile(join(project, 'src/app.js'), app);
  await writeFile(join(project, 'src/tasks/square.mjs'), 'export default (n) => n * n;\n');
  await writeFile(join(project, 'build.mjs'), esbuildScript(true));
  await writeFile(join(project, 'build-plain.mjs'), esbuildScript(false));
  await writeFile(join(project, 'rollup.config.mjs'), rollupConfig);
});
after(() => rm(tmp, { recursive: true, force: true }));

/** Copies the bundle in `out` and the task module to a new folder; runs the app there. */
async function ship(out: string): Promise<{ stdout: string; files: string[] }> {
  const shipped = await mkdtemp(join(tmpdir(), 'rxpool-shipped-'));
  try {
    await cp(join(project, out), shipped, { recursive: true });
    await cp(join(project, 'src/tasks'), join(shipped, 'tasks'), { recursive: true });
    const files = (await readdir(shipped, { recursive: true })).sort();
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['app.mjs'],
        { cwd: shipped, timeout: 60_000, env: { ...process.env, NODE_OPTIONS: '' } },
        (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out)),
      );
    });
    return { stdout, files };
  } finally {
    await rm(shipped, { recursive: true, force: true });
  }
}

const works = {
  tinypool: 'absent',
  thread: { module: [1, 4, 9], inline: [2, 3] },
  process: { module: [1, 4, 9], inline: [2, 3] },
};
const T = { timeout: 180_000 };

describe('bundled apps', () => {
  it('esbuild with rxpoolEsbuildPlugin(): the bundle runs without node_modules', T, async () => {
    await run(process.execPath, ['build.mjs', 'out-esbuild'], { cwd: project });
    const { stdout, files } = await ship('out-esbuild');
    for (const file of ['rxpool-worker.mjs', 'entry/worker.js', 'entry/process.js']) {
      assert.ok(files.includes(file), `the plugin did not write ${file}: ${files.join(', ')}`);
    }
    assert.ok(!files.includes('node_modules'));
    assert.deepEqual(JSON.parse(stdout), works);
  });

  it('rollup with copyWorkerFiles() (the README configuration): the bundle runs', T, async () => {
    const rollup = join(project, 'node_modules/rollup/dist/bin/rollup');
    await run(process.execPath, [rollup, '-c', '--silent'], { cwd: project });
    const { stdout } = await ship('out-rollup');
    assert.deepEqual(JSON.parse(stdout), works);
  });

  it('esbuild without the plugin: the first item fails at once, saying what to do', T, async () => {
    await run(process.execPath, ['build-plain.mjs', 'out-plain'], { cwd: project });
    const { stdout } = await ship('out-plain');
    const out = JSON.parse(stdout) as Record<string, { error?: string; cause?: string }>;
    assert.equal(out.tinypool, 'absent');
    for (const runtime of ['thread', 'process']) {
      const said = `${out[runtime]?.error} ${out[runtime]?.cause}`;
      assert.match(
        said,
        /rxpool cannot start workers: Cannot find module '[^']*worker\/host\.js' \(nor '[^']*rxpool-worker\.mjs'\)/,
        runtime,
      );
      assert.match(said, /rxpoolEsbuildPlugin\(\) from 'rxpool\/esbuild'/, runtime);
    }
  });
});

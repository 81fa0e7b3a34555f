/**
 * What depends on the Node version the program runs on (CI runs this suite on Node 20, 22 and
 * 24, .ci/run): a `.ts` task module started from a plain `node` process, without tsx anywhere it
 * could be found. Node that strips types itself (22.18+, 23.6+, 24; `process.features.typescript`)
 * loads it in the workers as it would on the main thread; older Node fails the item with an error
 * that says what to do.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';

const rxpool = new URL('../../dist/src/index.js', import.meta.url).href;
const strips = Boolean((process.features as { typescript?: unknown }).typescript);

let folder: string;
before(async () => {
  // Outside the repo: neither the task module's folder nor the current directory finds tsx.
  folder = await mkdtemp(join(tmpdir(), 'rxpool-node-'));
  await copyFile(new URL('../fixtures/typed.ts', import.meta.url), join(folder, 'typed.ts'));
  await writeFile(
    join(folder, 'main.mjs'),
    `import { createPool, task } from ${JSON.stringify(rxpool)};
const runtime = process.argv[2];
const pool = createPool({ size: 1, runtime });
try {
  const cube = task(new URL('./typed.ts', import.meta.url));
  const norm = task(new URL('./typed.ts', import.meta.url), 'norm');
  const values = [await pool.run(cube, 3), ...(await pool.map(norm, [{ x: 3, y: 4 }]))];
  console.log(JSON.stringify({ values }));
} catch (error) {
  console.log(JSON.stringify({ error: error.cause?.message ?? error.message }));
} finally {
  await pool.close();
}
`,
  );
});
after(() => rm(folder, { recursive: true, force: true }));

function runMain(runtime: 'thread' | 'process'): Promise<{ values?: number[]; error?: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      // No loader, no flag: only what this Node does by default.
      [join(folder, 'main.mjs'), runtime],
      { cwd: folder, timeout: 60_000, env: { ...process.env, NODE_OPTIONS: '' } },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${error.message}\n${stderr}`));
        else resolve(JSON.parse(stdout.trim()));
      },
    );
  });
}

for (const runtime of ['thread', 'process'] as const) {
  it(
    strips
      ? `a .ts task module runs in a plain node process without tsx (runtime: '${runtime}'; Node ${process.version} strips types)`
      : `a .ts task module without tsx fails the item with what to do (runtime: '${runtime}'; Node ${process.version} does not strip types)`,
    { timeout: 90_000 },
    async () => {
      const outcome = await runMain(runtime);
      if (strips) {
        assert.deepEqual(outcome, { values: [27, 5] });
      } else {
        assert.equal(outcome.values, undefined);
        assert.match(outcome.error ?? '', /Cannot load the TypeScript task module .*typed\.ts/);
        assert.match(outcome.error ?? '', /tsx/);
        assert.match(outcome.error ?? '', /Node 22\.18/);
      }
    },
  );
}

it("package.json `engines` names exactly the Node majors that CI tests (.ci/run's NODE_VERSIONS)", async () => {
  const root = new URL('../../', import.meta.url);
  const ci = await readFile(new URL('.ci/run', root), 'utf8');
  const pinned = /^NODE_VERSIONS=\(([^)]*)\)$/m.exec(ci)?.[1]?.trim().split(/\s+/) ?? [];
  assert.ok(pinned.length > 0, '.ci/run pins no Node versions');
  for (const version of pinned) assert.match(version, /^\d+\.\d+\.\d+$/, 'pin exact versions');
  const tested = pinned.map((version) => Number(version.split('.')[0]));
  const manifest = JSON.parse(await readFile(new URL('package.json', root), 'utf8'));
  const ranges = (manifest.engines.node as string).split('||').map((range) => range.trim());
  const majors = ranges.map((range) => {
    const match = /^(\^|>=)(\d+)\.0\.0$/.exec(range);
    assert.ok(match, `engines range ${range}: expected ^N.0.0 or >=N.0.0`);
    return Number(match[2]);
  });
  assert.deepEqual(majors, tested);
  // Only the newest tested major is open-ended.
  assert.deepEqual(
    ranges.map((range) => range.startsWith('>=')),
    tested.map((_, i) => i === tested.length - 1),
  );
});

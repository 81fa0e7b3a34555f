/**
 * What the package publishes, read from `npm pack --dry-run` over the built dist/: every source
 * map it ships names sources that ship with it (or carries them inline), and the .d.ts files show
 * the public API only (`stripInternal`): no `Pool.dispatcher`, no constructor that `createPool`
 * stands for, no internal option keys. That a `Task`'s types still tell tasks apart, with its
 * brand public, is proven by the consumer program of types-consumer.test.ts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import { before, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('../..', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let files: Set<string>;

before(async () => {
  const { stdout } = await promisify(execFile)(
    npm,
    ['pack', '--dry-run', '--ignore-scripts', '--json'],
    { cwd: root, maxBuffer: 16 * 1024 * 1024 },
  );
  const [info] = JSON.parse(stdout) as { files: { path: string }[] }[];
  files = new Set(info!.files.map((file) => file.path));
});

it('every shipped source map names sources that ship too, or carries them', async () => {
  const maps = [...files].filter((path) => path.endsWith('.map'));
  assert.ok(maps.length > 0, 'no source map is shipped: then this test checks nothing');
  const missing: string[] = [];
  for (const map of maps) {
    const {
      sources,
      sourcesContent,
      sourceRoot = '',
    } = JSON.parse(await readFile(join(root, map), 'utf8')) as {
      sources: string[];
      sourcesContent?: (string | null)[];
      sourceRoot?: string;
    };
    sources.forEach((source, i) => {
      if (typeof sourcesContent?.[i] === 'string') return;
      const path = normalize(join(dirname(map), sourceRoot, source)).replaceAll('\\', '/');
      if (!files.has(path)) missing.push(`${map} -> ${path}`);
    });
  }
  assert.deepEqual(missing, []);
});

it('the .d.ts files show no internal member', async () => {
  const pool = await readFile(join(root, 'dist/src/pool/pool.d.ts'), 'utf8');
  assert.doesNotMatch(pool, /\bdispatcher\b/);
  assert.doesNotMatch(pool, /constructor\(/);
  assert.doesNotMatch(pool, /\[imapSettledSpread\]/);
  const task = await readFile(join(root, 'dist/src/pool/task.d.ts'), 'utf8');
  assert.doesNotMatch(task, /__signature|constructor\(/);
  assert.match(
    task,
    /readonly \[taskSignature\]\?: \(input: In, context: TaskContext<State>\) => Out;/,
  );
  const options = await readFile(join(root, 'dist/src/options.d.ts'), 'utf8');
  assert.doesNotMatch(options, /\bORIGIN\b/);
});

/**
 * scripts/check-imports.mjs, the import rules `npm run lint` holds the tree to: it finds a circle
 * (of imports that load something) and an import that goes up a room (types too), in small trees
 * made for the test, and finds nothing in the project itself.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
// @ts-expect-error: a plain .mjs script, without types
import { check, roomOf } from '../../scripts/check-imports.mjs';

const root = mkdtempSync(join(tmpdir(), 'rxpool-imports-'));
after(() => rmSync(root, { recursive: true, force: true }));

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(root, 'tree-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

describe('check-imports', () => {
  it('places files in their rooms', () => {
    assert.equal(roomOf('src/errors.ts'), 'base');
    assert.equal(roomOf('src/wire/messages.ts'), 'wire');
    assert.equal(roomOf('src/engine/engine.ts'), 'engine');
    assert.equal(roomOf('src/bullmq/executor.ts'), 'bullmq');
    assert.equal(roomOf('src/bullmq/serve.ts'), 'faces');
    assert.equal(roomOf('operators/parallel-map.ts'), 'faces');
  });

  it('finds a circle of imports that load something, and shows it as it goes', () => {
    const dir = tree({
      'src/cli/a.ts': "import { b } from './b.js';\nexport const a = b;\n",
      'src/cli/b.ts': "import { type C, c } from './c.js';\nexport const b: C = c;\n",
      'src/cli/c.ts':
        "import { a } from './a.js';\nexport type C = number;\nexport const c = 1;\nexport const d = a;\n",
      'src/cli/d.ts': "import { a } from './a.js';\nexport const d = a;\n",
    });
    assert.deepEqual(check(dir), [
      'import circle: src/cli/a.ts -> src/cli/b.ts -> src/cli/c.ts -> src/cli/a.ts',
    ]);
  });

  it('takes no circle from imports of types alone, which load nothing', () => {
    const dir = tree({
      'src/pool/pool.ts':
        "import { check } from '../options.js';\nexport class Pool { c = check; }\n",
      'src/options.ts':
        "import type { Pool } from './pool/pool.js';\nexport const check = (p: Pool) => p;\n",
      'src/cli/run.ts':
        "import { block } from './block.js';\nexport type Io = 1;\nexport const r = block;\n",
      'src/cli/block.ts': "export type { Io } from './run.js';\nexport const block = 2;\n",
    });
    assert.deepEqual(check(dir), []);
  });

  it('finds an import that goes up a room, and lets one go down', () => {
    const dir = tree({
      'src/errors.ts': 'export class E extends Error {}\n',
      'src/engine/engine.ts':
        "import { E } from '../errors.js';\nimport { options } from '../options.js';\nexport const x = [E, options];\n",
      'src/options.ts': 'export const options = {};\n',
      'src/worker/run.ts': "export const load = () => import('../threads/pool.js');\n",
      'src/threads/pool.ts': "export * from '../wire/messages.js';\n",
      'src/wire/messages.ts': 'export const m = 1;\n',
    });
    assert.deepEqual(check(dir).sort(), [
      'upward import: src/engine/engine.ts (engine) imports src/options.ts (faces)',
      'upward import: src/worker/run.ts (worker) imports src/threads/pool.ts (threads)',
    ]);
  });

  it('finds nothing in the project', () => {
    const project = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
    assert.deepEqual(check(project), []);
  });
});

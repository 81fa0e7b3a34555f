/**
 * `import()` in an inline function (issue 20, point 10): a bare specifier (a package, here one
 * that only ESM resolution finds: its `exports` has an `import` condition only) and a relative one
 * resolve from the module that passed the function to rxpool, as they would in that module's own
 * code; from the current directory when no module file passed it (`node -e`). The caller is an
 * app in a folder of its own, away from the current directory and from rxpool, and it calls
 * every face itself.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createPool, type Pool, TaskError } from 'rxpool';
import { FACES } from '../support/faces.js';
import { serves } from './_helpers.js';

const T = { timeout: 60_000 };
const root = fileURLToPath(new URL('../..', import.meta.url));
const app = mkdtempSync(join(tmpdir(), 'rxpool-inline-import-'));

const caller = `import { from, lastValueFrom, toArray } from 'rxjs';
import { parallelMap, parallelSettle } from 'rxpool/operators';

export const work = async (n) => {
  const { greet } = await import('import-only-pkg');
  const { default: triple } = await import('./lib/dep.mjs');
  return greet(triple(n));
};

export const missing = async () => (await import('no-such-package')).x;

const values = (all) => all.map((s) => { if (!s.ok) throw s.error; return s.value; });

export async function viaFace(face, pool, items, w = work) {
  const ordered = !face.endsWith('unordered');
  switch (face) {
    case 'run': {
      const out = [];
      for (const n of items) out.push(await pool.run(w, n));
      return out;
    }
    case 'map':
      return pool.map(w, items);
    case 'imap':
    case 'imap unordered': {
      const out = [];
      for await (const v of pool.imap(w, items, { ordered })) out.push(v);
      return out;
    }
    case 'imapSettled': {
      const out = [];
      for await (const s of pool.imapSettled(w, items)) out.push(s);
      return values(out);
    }
    case 'parallelMap':
    case 'parallelMap unordered':
      return lastValueFrom(from(items).pipe(parallelMap(w, { pool, ordered }), toArray()));
    case 'parallelSettle':
      return values(await lastValueFrom(from(items).pipe(parallelSettle(w, { pool }), toArray())));
  }
}
`;

before(() => {
  mkdirSync(join(app, 'lib'));
  mkdirSync(join(app, 'node_modules', 'import-only-pkg'), { recursive: true });
  symlinkSync(root, join(app, 'node_modules', 'rxpool'), 'dir');
  symlinkSync(join(root, 'node_modules', 'rxjs'), join(app, 'node_modules', 'rxjs'), 'dir');
  writeFileSync(
    join(app, 'node_modules', 'import-only-pkg', 'package.json'),
    JSON.stringify({
      name: 'import-only-pkg',
      type: 'module',
      exports: { '.': { import: './index.js' } },
    }),
  );
  writeFileSync(
    join(app, 'node_modules', 'import-only-pkg', 'index.js'),
    "export const greet = (n) => 'hello ' + n;\n",
  );
  writeFileSync(join(app, 'lib', 'dep.mjs'), 'export default (n) => n * 3;\n');
  writeFileSync(join(app, 'caller.mjs'), caller);
  // A TypeScript caller, run under tsx as this test is: './typed.mjs' is typed.mts.
  writeFileSync(join(app, 'lib', 'typed.mts'), 'export default (n: number): number => n * 7;\n');
  writeFileSync(
    join(app, 'ts-caller.mts'),
    'export const viaRun = (pool: any, n: number) =>\n' +
      "  pool.run(async (x: number) => (await import('./lib/typed.mjs')).default(x), n);\n",
  );
});
after(() => rmSync(app, { recursive: true, force: true }));

interface Caller {
  viaFace(face: string, pool: Pool, items: number[], work?: unknown): Promise<string[]>;
  missing: () => Promise<unknown>;
}

const load = async () =>
  (await import(pathToFileURL(join(app, 'caller.mjs')).href)) as unknown as Caller;

for (const runtime of ['thread', 'process'] as const) {
  describe(`runtime: '${runtime}'`, () => {
    const pool = createPool({ size: 2, runtime });
    after(() => pool.destroy());

    for (const face of FACES) {
      it(
        `${face}: a package and a relative module, resolved from the caller's module`,
        T,
        async () => {
          const { viaFace } = await load();
          const values = await viaFace(face, pool, [1, 2, 3]);
          const expected = ['hello 3', 'hello 6', 'hello 9'];
          assert.deepEqual(face.endsWith('unordered') ? values.sort() : values, expected);
        },
      );
    }

    it(
      'from a TypeScript module, a relative import finds its TypeScript file, as under tsx',
      T,
      async () => {
        const { viaRun } = (await import(pathToFileURL(join(app, 'ts-caller.mts')).href)) as {
          viaRun: (pool: Pool, n: number) => Promise<number>;
        };
        assert.equal(await viaRun(pool, 6), 42);
      },
    );

    it(
      'a package that is not there fails the item with a short message naming the caller',
      T,
      async () => {
        const { viaFace, missing } = await load();
        const error = await viaFace('run', pool, [1], missing).then(
          () => assert.fail('expected a failure'),
          (e: unknown) => e,
        );
        assert.ok(error instanceof TaskError, String(error));
        assert.match(error.cause.message, /Cannot find package 'no-such-package'/);
        assert.ok(error.cause.message.includes(join(app, 'caller.mjs')), error.cause.message);
        assert.ok(
          error.message.length < 300,
          `${error.message.length} characters: ${error.message}`,
        );
        assert.equal(await serves(pool), 42);
      },
    );
  });
}

it('node -e: from the current directory, as Node resolves there', T, () => {
  const script = `
    const { createPool } = require('rxpool');
    const pool = createPool({ size: 1 });
    pool
      .run(async (n) => (await import('import-only-pkg')).greet((await import('./lib/dep.mjs')).default(n)), 5)
      .then((value) => { console.log(value); return pool.close(); });
  `;
  const child = spawnSync(process.execPath, ['-e', script], {
    cwd: app,
    encoding: 'utf8',
    timeout: 30_000,
    killSignal: 'SIGKILL',
  });
  assert.equal(child.status, 0, child.stderr);
  assert.equal(child.stdout.trim(), 'hello 15');
});

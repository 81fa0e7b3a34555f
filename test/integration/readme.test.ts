/**
 * The README's marked snippets run for real, against the built package, and print what the README
 * says they print; so the README cannot drift from the code.
 *
 * A snippet is marked by an HTML comment right before its fence, which holds its whole output:
 *
 *     <!-- test: prints
 *     49
 *     -->
 *     ```js
 *
 * Each runs in a project of its own in a temporary folder, whose node_modules links `rxpool` to
 * this repository (resolved through package.json `exports`, so dist/ must be built: `npm run
 * build`) and `rxjs` to ours: as a user's program would. A `js` snippet is a plain `.mjs` run by
 * `node`; a `ts` one runs under tsx.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const tsx = import.meta.resolve('tsx');
let project = '';

interface Snippet {
  readonly line: number;
  readonly lang: 'js' | 'ts';
  readonly code: string;
  readonly prints: string;
}

/** The marked snippets of `markdown`, with the line each fence starts on. */
function snippets(markdown: string): Snippet[] {
  const marked = /<!-- test: prints\n([\s\S]*?)-->\n```(js|ts)\n([\s\S]*?)```/g;
  return [...markdown.matchAll(marked)].map((m) => ({
    line: markdown.slice(0, m.index).split('\n').length + m[1]!.split('\n').length,
    lang: m[2] as 'js' | 'ts',
    code: m[3]!,
    prints: m[1]!,
  }));
}

/** Runs `code` as a file of the scratch project; resolves with what it printed, or rejects. */
async function runFile(name: string, code: string): Promise<string> {
  const file = join(project, name);
  await writeFile(file, code);
  const args = name.endsWith('.mjs') ? [file] : ['--import', tsx, file];
  const { stdout } = await run(process.execPath, args, { cwd: project, timeout: 60_000 });
  return stdout;
}

before(async () => {
  assert.ok(existsSync(join(root, 'dist/src/index.js')), 'dist/ is missing: run npm run build');
  project = await mkdtemp(join(tmpdir(), 'rxpool-readme-'));
  await mkdir(join(project, 'node_modules'));
  await symlink(root, join(project, 'node_modules', 'rxpool'), 'dir');
  await symlink(join(root, 'node_modules', 'rxjs'), join(project, 'node_modules', 'rxjs'), 'dir');
  await writeFile(join(project, 'package.json'), '{ "type": "module", "private": true }\n');
});
after(() => rm(project, { recursive: true, force: true }));

test('every marked README snippet prints what the README says', async (t) => {
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const found = snippets(readme);
  // A marker whose fence the pattern missed (another language, a blank line) would go untested.
  assert.equal(found.length, readme.split('<!-- test: prints').length - 1, 'a marker is not read');
  for (const snippet of found) {
    await t.test(`README.md line ${snippet.line}`, async () => {
      const name = `snippet-${snippet.line}.${snippet.lang === 'js' ? 'mjs' : 'mts'}`;
      assert.equal(await runFile(name, snippet.code), snippet.prints);
    });
  }
  assert.ok(found.length >= 8, `only ${found.length} marked snippets`);
});

test('await using: under tsx on every Node; in a plain .mjs only where Node parses it (24 and up)', async () => {
  const code = [
    "import { createPool } from 'rxpool';",
    '',
    'await using pool = createPool({ size: 1 });',
    'console.log(await pool.run((n) => n * n, 7));',
    '',
  ].join('\n');
  assert.equal(await runFile('await-using.mts', code), '49\n');
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= 24) {
    assert.equal(await runFile('await-using.mjs', code), '49\n');
  } else {
    await assert.rejects(runFile('await-using.mjs', code), (error: { stderr: string }) => {
      assert.match(error.stderr, /SyntaxError: Unexpected identifier 'pool'/);
      return true;
    });
  }
});

/**
 * A user's project in a temporary folder, with rxpool installed from the packed tarball (as `npm
 * install rxpool` would) and the packages the test names: for the tests of what a user of the
 * published package sees (types, bundlers).
 *
 * `npm pack` would run the prepack build (which deletes dist/): this packs the dist/ that is already
 * built, with --ignore-scripts. Packages come from npm's cache where it has them.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const run = promisify(execFile);
export const root = fileURLToPath(new URL('../..', import.meta.url));
export const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const big = { maxBuffer: 16 * 1024 * 1024 };

/** Packs this repository into `folder`; resolves with the tarball's path. */
export async function pack(folder: string): Promise<string> {
  const { stdout } = await run(
    npm,
    ['pack', '--ignore-scripts', '--json', '--pack-destination', folder],
    { cwd: root, ...big },
  );
  const [info] = JSON.parse(stdout) as { filename: string }[];
  assert.ok(info, 'npm pack reported nothing');
  return join(folder, info.filename);
}

/**
 * Makes an ES module project at `folder` with `tarball` and `packages` (exact specs, such as
 * `rxjs@7.8.2`) installed.
 */
export async function consumer(
  folder: string,
  tarball: string,
  packages: readonly string[],
): Promise<string> {
  await mkdir(folder, { recursive: true });
  await writeFile(
    join(folder, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }, null, 2),
  );
  await run(npm, ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, ...packages], {
    cwd: folder,
    ...big,
  });
  return folder;
}

/** The exact version this repository pins for a devDependency (package.json). */
export async function pinned(name: string): Promise<string> {
  const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
    devDependencies: Record<string, string>;
  };
  const version = manifest.devDependencies[name];
  assert.ok(version, `package.json pins no ${name}`);
  return `${name}@${version}`;
}

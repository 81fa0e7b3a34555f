/**
 * Builds dist/ unless it was built from the sources as they are: the examples' npm scripts run
 * this first, so that they start at once when dist/ is current (a build takes 10 s and more).
 *
 *   node scripts/fresh-dist.mjs           build only if a source changed since the last build
 *   node scripts/fresh-dist.mjs --stamp   record that dist/ is built from the sources as they are
 *                                         (the end of `npm run build`)
 *
 * What the build reads (src/, operators/, the tsconfigs, the build scripts, package.json and the
 * lock file, which fixes the bundled worker entries) is hashed by content, not by time: a
 * checkout or a copy that touches files without changing them rebuilds nothing, and an edit is
 * seen whatever its time. The hash is kept in dist/.sources; a dist/ without it is rebuilt.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const stampFile = join(root, 'dist', '.sources');
const folders = ['src', 'operators'];
const files = [
  'tsconfig.json',
  'tsconfig.build.json',
  'package.json',
  'package-lock.json',
  'scripts/bundle.mjs',
  'scripts/fresh-dist.mjs',
];

function sourcesHash() {
  const paths = [...files];
  for (const folder of folders) {
    for (const entry of readdirSync(join(root, folder), { recursive: true, withFileTypes: true })) {
      if (entry.isFile())
        paths.push(relative(root, join(entry.parentPath ?? entry.path, entry.name)));
    }
  }
  const hash = createHash('sha256');
  for (const path of paths.sort()) {
    hash.update(`${path}\0`);
    hash.update(readFileSync(join(root, path)));
    hash.update('\0');
  }
  return hash.digest('hex');
}

function stamped() {
  try {
    return readFileSync(stampFile, 'utf8').trim();
  } catch {
    return undefined;
  }
}

if (process.argv.includes('--stamp')) {
  writeFileSync(stampFile, `${sourcesHash()}\n`);
} else if (stamped() !== sourcesHash()) {
  console.error('fresh-dist: the sources changed since dist/ was built: npm run build');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const { status, error } = spawnSync(npm, ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' });
  if (error) throw error;
  process.exitCode = status ?? 1;
}

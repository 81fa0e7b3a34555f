/**
 * The build's second step (after `tsc`): the two files a process starts from, the command line
 * (dist/src/cli/main.js) and the worker side (dist/src/worker/host.js), each become one module with
 * what they import from rxpool, written where tsc wrote them: Node's ES module loader pays for
 * every module it resolves and translates, once in the command line and again in every worker,
 * and that start-up is a share of every `rxpool map` run. The other
 * modules stay as tsc wrote them: what `import 'rxpool'` loads is unchanged, and packages
 * (tinypool, rxjs, bullmq) are imported, never copied in.
 *
 * The task module that `rxpool map`'s workers import (dist/src/cli/task/json-task.js) becomes one
 * module too, for the same reason.
 *
 * The modules keep their folder depth (a bundle sits at dist/src/<folder>/), so that a URL made
 * from `import.meta.url` ('../worker/host.js') finds the same file. The command line's
 * `rxpool worker` path is split into a chunk of its own beside it, loaded only by that command,
 * sharing one copy of what both use (`CliError`, the pool). Source maps follow tsc's to src/.
 *
 * Then the files that workers start from, for apps that bundle rxpool (`rxpool/esbuild` copies
 * them next to an app's bundle): rxpool's worker side and tinypool's entries, each one module
 * with its packages copied in, in dist/src/bundled/ (the door, src/threads/worker-host.ts, names
 * them). Their folder `entry/` says `"type": "module"`, so that Node reads tinypool's `.js` entries
 * as ES modules wherever the app is.
 *
 *   node scripts/bundle.mjs
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  allowOverwrite: true,
  logLevel: 'warning',
};

await Promise.all([
  build({
    ...common,
    entryPoints: ['dist/src/cli/main.js'],
    outdir: 'dist/src/cli',
    splitting: true,
    chunkNames: '[name]-[hash]',
  }),
  build({
    ...common,
    entryPoints: ['dist/src/worker/host.js'],
    outdir: 'dist/src/worker',
  }),
  // The task `rxpool map` runs: every worker of the command line imports it at start.
  build({
    ...common,
    entryPoints: ['dist/src/cli/task/json-task.js'],
    outdir: 'dist/src/cli/task',
  }),
]);

const { bundledWorkerFiles } = await import('../dist/src/threads/worker-host.js');
const bundled = new URL('../dist/src/bundled/', import.meta.url);
await Promise.all(
  bundledWorkerFiles().map(({ from, to }) =>
    build({
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'warning',
      legalComments: 'inline',
      entryPoints: [fileURLToPath(from)],
      outfile: fileURLToPath(new URL(to, bundled)),
    }),
  ),
);
await mkdir(new URL('entry/', bundled), { recursive: true });
await writeFile(new URL('entry/package.json', bundled), '{ "type": "module" }\n');

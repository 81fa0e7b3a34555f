/**
 * `rxpool/esbuild`: what an app that bundles rxpool ships next to its bundle. rxpool's worker side
 * and the pool library's worker entries are files that workers start from, found next to the module that
 * starts them (src/threads/worker-host.ts, workaround 14): in a bundle, next to the bundle. The
 * build bundles them once into dist/src/bundled/ (scripts/bundle.mjs); this copies that folder.
 * It loads neither esbuild nor the pool library.
 */
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'esbuild';

/** The worker files, bundled by rxpool's build (dist/src/bundled/). */
const bundled = fileURLToPath(new URL('../bundled/', import.meta.url));

/**
 * Copies the files that rxpool's workers start from into `dir`, the folder of an app's bundle
 * that holds rxpool: `rxpool-worker.mjs`, and the pool library's `entry/` folder.
 *
 * _For bundlers other than esbuild: call it once the bundle is written._
 *
 * Each file is one module with nothing to install. The bundle's own module must be in `dir` (not
 * in a subfolder), since rxpool and the pool library look for these files next to the module that holds
 * them.
 *
 * ## Example
 * ```ts
 * // rollup.config.mjs
 * import { nodeResolve } from '@rollup/plugin-node-resolve';
 * import { copyWorkerFiles } from 'rxpool/esbuild';
 *
 * export default {
 *   input: 'src/app.js',
 *   output: { dir: 'out', format: 'es', entryFileNames: '[name].mjs' },
 *   plugins: [nodeResolve(), { name: 'rxpool', writeBundle: (o) => copyWorkerFiles(o.dir) }],
 * };
 * ```
 *
 * @see {@link rxpoolEsbuildPlugin}
 * @param dir The folder the bundle was written to.
 * @returns The paths written, relative to `dir`.
 */
export async function copyWorkerFiles(dir: string): Promise<string[]> {
  const files = (await readdir(bundled, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name).slice(bundled.length));
  for (const file of files) {
    await mkdir(dirname(join(dir, file)), { recursive: true });
    await copyFile(join(bundled, file), join(dir, file));
  }
  return files.sort();
}

/**
 * An esbuild plugin that writes the files rxpool's workers start from next to the bundle.
 *
 * _Bundle an app that uses rxpool into files that run without `node_modules`._
 *
 * Without them, a bundled app cannot start workers: the first item fails with an error that says
 * so. The files are written once the build succeeds, to `outdir` (or the folder of `outfile`); see
 * {@link copyWorkerFiles} for what they are. Task modules are loaded by the workers from where
 * `task()` names them: ship them with the bundle (or bundle them as entry points of their own).
 *
 * ## Example
 * ```ts
 * import { build } from 'esbuild';
 * import { rxpoolEsbuildPlugin } from 'rxpool/esbuild';
 *
 * await build({
 *   entryPoints: ['src/app.js'],
 *   bundle: true,
 *   platform: 'node',
 *   format: 'esm',
 *   outdir: 'out',
 *   outExtension: { '.js': '.mjs' },
 *   plugins: [rxpoolEsbuildPlugin()],
 * });
 * // out/app.mjs, out/rxpool-worker.mjs, out/entry/worker.js, out/entry/process.js ...
 * ```
 *
 * @see {@link copyWorkerFiles}
 * @returns The plugin, for esbuild's `plugins`.
 */
export function rxpoolEsbuildPlugin(): Plugin {
  return {
    name: 'rxpool',
    setup(build) {
      const { outdir, outfile, absWorkingDir } = build.initialOptions;
      build.onEnd(async (result) => {
        if (result.errors.length > 0) return;
        const dir = outdir ?? (outfile === undefined ? undefined : dirname(outfile));
        if (dir === undefined) {
          return {
            errors: [
              {
                text: 'rxpoolEsbuildPlugin() needs `outdir` or `outfile`: it writes the worker files next to the bundle',
              },
            ],
          };
        }
        await copyWorkerFiles(resolve(absWorkingDir ?? process.cwd(), dir));
        return undefined;
      });
    },
  };
}

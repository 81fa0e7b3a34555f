/**
 * Prints the SHA-256 of every file under a directory, hashed on rxpool's workers, in the format of
 * `sha256sum` (so `sha256sum -c` checks the output), then a summary on stderr. A progress bar shows
 * on stderr when it is a terminal, the hashes go elsewhere, and there are many files.
 *
 *   node --import tsx examples/hash-files/main.ts DIR [> SHA256SUMS]
 */
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { TaskError } from 'rxpool';
import { plural } from '../plural.js';
import {
  checksumLine,
  HashProgressBar,
  hashFiles,
  listFiles,
  PROGRESS_MIN_FILES,
} from './hash-files.js';

const { values, positionals } = parseArgs({
  options: { help: { type: 'boolean', short: 'h', default: false } },
  allowPositionals: true,
});

if (values.help || positionals.length !== 1) {
  const usage = 'Usage: node --import tsx examples/hash-files/main.ts DIR [> SHA256SUMS]';
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  console.error(usage);
  process.exit(2);
}

const dir = positionals[0]!;
if (!(await stat(dir).catch(() => undefined))?.isDirectory()) {
  console.error(`hash-files: ${dir}: not a directory`);
  process.exit(2);
}

// `main.ts DIR | head`: when the reader goes away, stop quietly, as a Unix tool does.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(0);
});

const paths = await listFiles(dir);
// The bar owns a line of the terminal: only when the hashes are not printed there too.
const bar =
  process.stderr.isTTY && !process.stdout.isTTY && paths.length >= PROGRESS_MIN_FILES
    ? new HashProgressBar(paths.length)
    : undefined;

try {
  const summary = await hashFiles(paths, {
    onHash: ({ hex, path, bytes }) => {
      process.stdout.write(`${checksumLine(hex, path)}\n`);
      bar?.hashed(bytes);
    },
    progress: bar?.progress,
  });
  bar?.stop();
  const seconds = summary.ms / 1000;
  console.error(
    `hashed: ${plural(summary.files, 'file')}, ${plural(summary.bytes, 'byte')} in ${seconds.toFixed(2)} s ` +
      `(${(summary.bytes / 1e6 / seconds).toFixed(1)} MB/s) on ${plural(availableParallelism(), 'worker')}, ` +
      'their start-up included',
  );
} catch (error) {
  bar?.stop();
  if (!(error instanceof TaskError)) throw error;
  console.error(`hash-files: ${error.input}: ${error.cause.message}`);
  process.exitCode = 1;
}

/**
 * Hashes every file under a directory on rxpool's default pool, in completion order, and formats
 * the results as `sha256sum` does. Also the progress bar that `main.ts` shows on long runs, driven
 * by the operator's `progress` option. `main.ts` is the command line around it.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Presets, SingleBar } from 'cli-progress';
import { from } from 'rxjs';
import { type Progress, task } from 'rxpool';
import { parallelMap } from 'rxpool/operators';
import type { FileHash } from './hash.js';

export type { FileHash } from './hash.js';

const sha256File = task<string, FileHash>(new URL('./hash.ts', import.meta.url), 'sha256File');

/** Runs shorter than this many files show no progress bar: they are over before it would help. */
export const PROGRESS_MIN_FILES = 500;

/**
 * The regular files under `dir`, at any depth, as `find DIR -type f` lists them: symbolic links
 * are not followed. Each path is `dir` joined with the file's path inside it; sorted per folder.
 */
export async function listFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await listFiles(path)));
    else if (entry.isFile()) files.push(path);
  }
  return files;
}

/**
 * One line of `sha256sum`'s output: `<hex>  <path>`. As GNU `sha256sum` does, a path holding a
 * backslash, a newline or a carriage return is escaped and the line starts with a backslash, so
 * that `sha256sum -c` reads it back.
 */
export function checksumLine(hex: string, path: string): string {
  if (!/[\\\n\r]/.test(path)) return `${hex}  ${path}`;
  const escaped = path.replace(/[\\\n\r]/g, (c) =>
    c === '\\' ? '\\\\' : c === '\n' ? '\\n' : '\\r',
  );
  return `\\${hex}  ${escaped}`;
}

/** Options of {@link hashFiles}. */
export interface HashFilesOptions {
  /** Called with each file's hash, as soon as it is ready (in completion order). */
  readonly onHash?: (hash: FileHash) => void;
  /** The `progress` option of `parallelMap`: counts, rate and ETA, at most every 100 ms. */
  readonly progress?: (progress: Progress) => void;
}

/** What {@link hashFiles} did. */
export interface HashSummary {
  readonly files: number;
  readonly bytes: number;
  /** ms from the first file sent to the last hash received, worker start-up included. */
  readonly ms: number;
}

/**
 * Hashes `paths` on the default pool with `parallelMap(sha256File, { ordered: false })`: each hash
 * arrives as soon as its file is done, so a large file does not hold back the small ones after it.
 */
export async function hashFiles(
  paths: readonly string[],
  options: HashFilesOptions = {},
): Promise<HashSummary> {
  const started = performance.now();
  let files = 0;
  let bytes = 0;
  await from(paths)
    .pipe(
      parallelMap(sha256File, {
        ordered: false,
        progress: options.progress,
        total: paths.length,
      }),
    )
    .forEach((hash) => {
      files++;
      bytes += hash.bytes;
      options.onHash?.(hash);
    });
  return { files, bytes, ms: performance.now() - started };
}

/**
 * A live progress bar on a terminal (cli-progress), fed by `parallelMap`'s `progress` reports:
 * files done of the total, bytes, rate and the ETA that rxpool computes. It owns its line of the
 * terminal: show it only when nothing else writes there (the hashes go to a file or a pipe).
 */
export class HashProgressBar {
  private readonly bar: SingleBar;
  private bytes = 0;

  /** Starts drawing the bar for `total` files on `stream` (a terminal). */
  constructor(total: number, stream: NodeJS.WritableStream = process.stderr) {
    this.bar = new SingleBar(
      {
        stream,
        // `timeLeft` is rxpool's ETA (`{eta}` would be cli-progress's own estimate).
        format:
          '{bar} {percentage}% | {value}/{total} files | {mb} MB | {rate} files/s | ETA {timeLeft}',
        barsize: 30,
        hideCursor: true,
        clearOnComplete: true,
      },
      Presets.shades_classic,
    );
    this.bar.start(total, 0, { mb: '0.0', rate: '0', timeLeft: '-' });
  }

  /** Counts a hashed file's bytes (shown at the next report). */
  hashed(bytes: number): void {
    this.bytes += bytes;
  }

  /** The `progress` callback to give `parallelMap`. */
  readonly progress = (p: Progress): void => {
    this.bar.update(p.done, {
      mb: (this.bytes / 1e6).toFixed(1),
      rate: p.rate.toFixed(0),
      timeLeft: p.etaMs === undefined ? '-' : `${(p.etaMs / 1000).toFixed(1)} s`,
    });
  };

  /** Stops the bar and erases it. */
  stop(): void {
    this.bar.stop();
  }
}

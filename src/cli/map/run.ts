/**
 * `rxpool map`: NDJSON lines from an input stream through a task module's export on a pool, one
 * JSON line per result to an output stream. The main thread moves bytes; the workers parse, run
 * the task and stringify (../task/json-task.ts, the task the pool runs). Lines go in blocks of bytes (./blocks.ts), or one
 * by one where each line must be its own item (./lines.ts); both read through ./input.ts, write
 * through ./output.ts and end through ./end.ts. Input is read only while the window has room and
 * the output is not full, so the memory held is bounded however long the input is.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
// Not '../../index.js': that loads the operators and RxJS, a good part of every run's start.
import { TaskError } from '../../errors.js';
import { createPool, type Pool } from '../../pool/pool.js';
import { CliError, ExitCode, type MapCommand } from '../args.js';
import { inspectExports, isTypeScript } from '../exports.js';
import { mapBlocks } from './blocks.js';
import type { Io } from './io.js';
import { mapLines } from './lines.js';

export type { Io } from './io.js';

/** Runs `rxpool map` to the end; resolves with the exit code. Throws a `CliError` before it starts. */
export async function runMap(command: MapCommand, io: Io): Promise<number> {
  const path = resolve(process.cwd(), command.module);
  if (!existsSync(path)) {
    throw new CliError(
      `cannot find the task module '${command.module}' (looked at ${path})`,
      ExitCode.module,
    );
  }
  const url = pathToFileURL(path).href;
  const pool = createPool(command.workers === undefined ? {} : { size: command.workers });
  // Lines come from stdin, in no caller's trace context: looking for `@opentelemetry/api` where it
  // is installed would load it (some 40 CommonJS modules) on the way to the first block, for
  // nothing to carry.
  pool.dispatcher.captureTrace = () => undefined;
  const checked = checkExport(pool, url, command);
  // Blocks go while the check is made: what they give waits for it (the workers' start is most of
  // a short run's time). Lines go one by one only once it passed.
  if (usesBlocks(command)) return mapBlocks(command, pool, url, io, checked);
  try {
    await checked;
  } catch (error) {
    await pool.destroy();
    throw error;
  }
  return mapLines(command, pool, url, io);
}

/**
 * Imports the module in a worker and checks that it has the export, so that a wrong name fails
 * once, before anything is written, and names the function exports there are. The lookup is the
 * workers' own (see ../exports.ts). TypeScript modules are not checked here: importing one before
 * the worker has registered tsx would cache a failure.
 */
async function checkExport(pool: Pool, url: string, command: MapCommand): Promise<void> {
  if (isTypeScript(url)) return;
  let problem: string | undefined;
  try {
    ({ problem } = await inspectExports(pool, url, command.exportName));
  } catch (error) {
    const cause = error instanceof TaskError ? error.cause : (error as Error);
    throw new CliError(
      `cannot load the task module '${command.module}': ${cause.name}: ${cause.message}`,
      ExitCode.module,
    );
  }
  if (problem === undefined) return;
  throw new CliError(`the task module '${command.module}' ${problem}`, ExitCode.module);
}

/**
 * Whether lines travel in blocks of bytes (the fast path) or one by one. One by one: with
 * `--timeout` and `--retry` (they apply to each line, and the pool times and retries items), with
 * `--on-error settle` (a record carries its index among the non-blank lines, which only the
 * workers count) and with a `--concurrency` below a block's lines.
 */
function usesBlocks(command: MapCommand): boolean {
  return (
    command.onError !== 'settle' &&
    command.timeout === undefined &&
    command.retry === 0 &&
    command.concurrency >= MIN_BLOCK_CONCURRENCY
  );
}

/** Below this `--concurrency`, lines go one by one (a block holds thousands of lines). */
const MIN_BLOCK_CONCURRENCY = 4096;

/**
 * `rxpool map`: NDJSON lines from an input stream through a task module's export on a pool, one
 * JSON line per result to an output stream. Lines are read only while fewer than `concurrency` are
 * between the input and the output and while the output is not full, so the memory held is bounded
 * however long the input is.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { Deque } from '../engine/deque.js';
import {
  createPool,
  type Pool,
  type Progress,
  type Settled,
  TaskError,
  TaskTimeoutError,
  task,
  WorkerCrashedError,
} from '../index.js';
import { HOST_FRAMES } from '../threads/worker-host.js';
import { CliError, ExitCode, type MapCommand } from './args.js';
import { inspectExports, isTypeScript } from './exports.js';

/** The streams `rxpool map` works on: the process's own, or others in a test. */
export interface Io {
  readonly stdin: Readable;
  readonly stdout: Writable;
  readonly stderr: Writable & { readonly isTTY?: boolean };
}

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
  try {
    await checkExport(pool, url, command);
  } catch (error) {
    await pool.destroy();
    throw error;
  }
  return stream(command, pool, url, io);
}

/**
 * Imports the module in a worker and checks that it has the export, so that a wrong name fails
 * once, before any input is read, and names the function exports there are. The lookup is the
 * workers' own (see ./exports.ts). TypeScript modules are not checked here: importing one before
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

/** Where a non-blank input line is: its 0-based position among them and its 1-based number. */
interface Place {
  readonly index: number;
  readonly line: number;
}

/** A line that is not JSON, with `--on-error skip` or `settle`: a failed line that never runs. */
interface BadLine extends Place {
  readonly text: string;
  readonly error: SyntaxError;
  /** How many parsed lines went to the pool before it: in order, it comes out after them. */
  readonly after: number;
}

async function stream(command: MapCommand, pool: Pool, url: string, io: Io): Promise<number> {
  const { stdin, stdout, stderr } = io;
  const { onError, ordered } = command;
  const lines = createInterface({ input: stdin, crlfDelay: Infinity });
  /** Where each item in flight comes from, by its index in the pool's stream. */
  const placeOf = new Map<number, Place>();
  let notJson: string | undefined;
  let readFailure: Error | undefined;
  let skipped = 0;
  /** Lines that were not JSON (skip, settle), counted in the progress line as failed. */
  let badLines = 0;
  /** In order: bad lines waiting for the results of the lines before them, at most `concurrency`. */
  const held = new Deque<BadLine>();
  /** In order: how many of the pool's results are written (or skipped). */
  let handled = 0;
  let stopped = false;
  /** Wakes the reader waiting for room in `held`. */
  let room: (() => void) | undefined;
  let flushing = Promise.resolve();
  let progressShown = false;
  let closed: { code: number; message?: string } | undefined;

  /** Writes to stderr, on a fresh line if a progress line is showing. */
  const report = (message: string) => {
    if (progressShown) stderr.write('\r\x1b[K');
    progressShown = false;
    stderr.write(`rxpool: ${message}\n`);
  };

  const showReport = (p: Progress) => {
    const failed = p.failed + badLines > 0 ? `, ${p.failed + badLines} failed` : '';
    const rate = `${p.rate >= 100 ? Math.round(p.rate) : p.rate.toFixed(1)}/s`;
    const done = p.done + badLines;
    stderr.write(`\r\x1b[Krxpool: ${done} done${failed}, ${rate}${p.final ? '\n' : ''}`);
    progressShown = !p.final;
  };

  // The reader went away (`| head`): stop quietly, as other filters do.
  let outputGone: () => void = () => {};
  const gone = new Promise<void>((resolve) => {
    outputGone = resolve;
  });
  stdout.on('error', (error: NodeJS.ErrnoException) => {
    closed ??=
      error.code === 'EPIPE'
        ? { code: ExitCode.ok }
        : { code: ExitCode.failed, message: `cannot write the output: ${error.message}` };
    outputGone();
  });

  /** Writes a line; waits while stdout is full, so the input is read no faster than it drains. */
  const write = async (text: string) => {
    if (stdout.write(`${text}\n`)) return;
    await Promise.race([new Promise((resolve) => stdout.once('drain', resolve)), gone]);
  };

  /**
   * The parsed input lines, read only as fast as imapSettled pulls them. A line that is not JSON
   * ends the run with `--on-error fail`; otherwise it is a failed line, written (or reported) in
   * its place without going to the pool.
   */
  async function* inputs(): AsyncGenerator<unknown> {
    let lineNumber = 0;
    let index = 0;
    let sent = 0;
    try {
      for await (const text of lines) {
        lineNumber++;
        if (text.trim() === '') continue;
        let input: unknown;
        try {
          input = JSON.parse(text);
        } catch (error) {
          if (onError === 'fail') {
            // The lines before it still finish and are written; then the run ends with this.
            notJson = `line ${lineNumber} is not JSON: ${(error as Error).message}`;
            return;
          }
          badLines++;
          const bad = { index: index++, line: lineNumber, text, error: error as SyntaxError };
          await badLine({ ...bad, after: sent });
          if (stopped) return;
          continue;
        }
        placeOf.set(sent++, { index: index++, line: lineNumber });
        yield input;
      }
    } catch (error) {
      readFailure = error as Error;
    }
  }

  /**
   * Writes or reports a line that is not JSON. In order, it waits in `held` for the results of
   * the lines before it; while `held` is full, reading waits, so the memory held stays bounded.
   */
  const badLine = async (bad: BadLine) => {
    if (!ordered) {
      await failed(bad, bad.text, bad.error);
      return;
    }
    held.push(bad);
    await flushHeld();
    while (held.length >= command.concurrency && !stopped) {
      await new Promise<void>((resolve) => {
        room = resolve;
      });
    }
  };

  /**
   * In order: writes the held bad lines whose earlier results are all out. Calls queue up on
   * `flushing`, one pass at a time, each checking afresh, so no two passes write at once.
   */
  const flushHeld = (): Promise<void> => {
    flushing = flushing.then(async () => {
      while (!stopped && held.length > 0 && held.peek()!.after <= handled) {
        const bad = held.shift()!;
        await failed(bad, bad.text, bad.error);
      }
      room?.();
      room = undefined;
    });
    return flushing;
  };

  /** Stops reading at once (a read in progress ends), so that leaving the loop cannot hang. */
  const stopReading = () => {
    stopped = true;
    room?.();
    lines.close();
    stdin.destroy();
  };

  /** Handles a failed line by `--on-error`; returns the exit to stop with, if any. */
  const failed = async (
    place: Place,
    input: unknown,
    error: TaskError | Error,
  ): Promise<{ code: number; message: string } | undefined> => {
    const { index, line } = place;
    if (onError === 'fail') {
      return {
        code: ExitCode.failed,
        message: `line ${line} ${describeFailure(error)}${workerStack(error)}`,
      };
    }
    if (onError === 'skip') {
      skipped++;
      report(`line ${line} skipped: ${describeFailure(error)}`);
      return undefined;
    }
    let text: string;
    try {
      text = JSON.stringify({ ok: false, index, line, input, error: errorJson(error) }, safe);
    } catch {
      // a property JSON cannot hold (a cycle): the name and message still tell what happened
      const brief = { name: error.name, message: error.message };
      text = JSON.stringify({ ok: false, index, line, input, error: brief });
    }
    await write(text);
    return undefined;
  };

  /** Writes one settled line; returns the exit to stop with, if any. */
  const settledOne = async (settled: Settled<unknown, unknown>) => {
    const place = placeOf.get(settled.index)!;
    placeOf.delete(settled.index);
    if (!settled.ok) return failed(place, settled.input, settled.error);
    const value = settled.value === undefined ? null : settled.value;
    let text: string;
    try {
      text = JSON.stringify(
        onError === 'settle' ? { ok: true, ...place, input: settled.input, value } : value,
      );
    } catch (error) {
      const message = `its result cannot be written as JSON: ${(error as Error).message}`;
      return failed(place, settled.input, new TypeError(message));
    }
    await write(text);
    return undefined;
  };

  let end: { code: number; message?: string } | undefined;
  try {
    const results = pool.imapSettled(task(url, command.exportName), inputs(), {
      concurrency: command.concurrency,
      ordered,
      timeout: command.timeout,
      retry: command.retry,
      progress: stderr.isTTY === true ? showReport : undefined,
    });
    for await (const settled of results) {
      end = closed ?? (await settledOne(settled)) ?? closed;
      if (end) {
        stopReading();
        break;
      }
      if (ordered) {
        handled++;
        await flushHeld();
      }
    }
    if (!end) {
      // Bad lines after the last parsed one.
      await flushHeld();
      end = closed;
    }
  } catch (error) {
    end = { code: ExitCode.failed, message: (error as Error).message };
  }
  if (!end) {
    if (readFailure) {
      end = { code: ExitCode.failed, message: `cannot read the input: ${readFailure.message}` };
    } else if (notJson !== undefined) end = { code: ExitCode.input, message: notJson };
    else if (skipped > 0) {
      const count = skipped === 1 ? '1 line failed and was' : `${skipped} lines failed and were`;
      end = { code: ExitCode.skipped, message: `${count} skipped` };
    } else end = closed ?? { code: ExitCode.ok };
  }
  stopReading();
  if (end.message !== undefined) report(end.message);
  else if (progressShown) stderr.write('\n');
  await (end.code === ExitCode.ok || end.code === ExitCode.skipped ? pool.close() : pool.destroy());
  return end.code;
}

/** `failed after 2 attempts: RangeError: too big`, or `not JSON: ...` for a line. */
function describeFailure(error: Error): string {
  if (error instanceof SyntaxError) return `not JSON: ${error.message}`;
  if (!(error instanceof TaskError)) return `failed: ${error.message}`;
  const what =
    error instanceof TaskTimeoutError
      ? 'timed out'
      : error instanceof WorkerCrashedError
        ? 'lost its worker'
        : 'failed';
  const tries = error.attempts === 1 ? '1 attempt' : `${error.attempts} attempts`;
  return `${what} after ${tries}: ${error.cause.name}: ${error.cause.message}`;
}

/** Where rxpool's own modules are: their frames say nothing about the task. */
const OWN_CODE = new URL('../../', import.meta.url).href;

/** The stack frames of the task's own code where it failed, indented, to print under a message. */
function workerStack(error: Error): string {
  const stack = error instanceof TaskError ? error.cause.stack : undefined;
  const frames =
    stack
      ?.split('\n')
      .filter(
        (line) =>
          /^\s+at /.test(line) &&
          !line.includes(OWN_CODE) &&
          !line.includes(HOST_FRAMES) &&
          !line.includes('(node:'),
      ) ?? [];
  return frames.length > 0 ? `\n${frames.join('\n')}` : '';
}

/**
 * An error as JSON: `name`, `message`, its own enumerable properties (a `TaskError`'s `attempts`,
 * a cause's `code`...) and its `cause`, without stacks. `index` and `input` are left out of the
 * top level: the settled line has them already.
 */
function errorJson(error: Error, top = true): Record<string, unknown> {
  const json: Record<string, unknown> = { name: error.name, message: error.message };
  for (const [key, value] of Object.entries(error)) {
    if (key === 'stack' || key === 'cause' || (top && (key === 'index' || key === 'input'))) {
      continue;
    }
    json[key] = value;
  }
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof Error) json.cause = errorJson(cause, false);
  else if (cause !== undefined) json.cause = cause;
  return json;
}

/** A JSON replacer for error properties: a bigint becomes its digits rather than a throw. */
function safe(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

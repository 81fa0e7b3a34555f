/**
 * `rxpool map`: NDJSON lines from an input stream through a task module's export on a pool, one
 * JSON line per result to an output stream. The main thread moves bytes and strings; the workers
 * parse, run the task and stringify (../pool/lines.ts). Lines go in blocks of bytes
 * ({@link streamBlocks}), or one by one where each line must be its own item ({@link stream}).
 * Input is read only while the engine's window has room and the output is not full, so the memory
 * held is bounded however long the input is.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { pathToFileURL } from 'node:url';
import { realClock } from '../engine/clock.js';
import { Engine } from '../engine/engine.js';
import type { Progress } from '../engine/progress.js';
// Not '../index.js': that loads the operators and RxJS, ~100 ms of every run's start.
import { TaskError, TaskTimeoutError, WorkerCrashedError } from '../errors.js';
import { resolveParallel } from '../options.js';
import type { WorkSpec } from '../pool/messages.js';
import { createPool, type Pool } from '../pool/pool.js';
import { task } from '../pool/task.js';
import { HOST_FRAMES } from '../threads/worker-host.js';
import type { BlockFailure, BlockResult, LineBlock, LineResult } from '../worker/lines.js';
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
  return usesBlocks(command)
    ? streamBlocks(command, pool, url, io)
    : stream(command, pool, url, io);
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

/** How to end: the exit code, and what to report on stderr. */
interface End {
  readonly code: number;
  readonly message?: string;
}

/** Output is written in blocks of about this many characters (and at the end of each turn). */
const WRITE_BLOCK = 65_536;

/**
 * Moves the lines: stdin is cut at line ends into strings, which go to the pool as they are; the
 * workers parse, run the task and stringify (`lines` in the work, see ../pool/lines.ts), and the
 * JSON text they send back is written in blocks. The engine is fed by pushing while its window has
 * room and stdin is paused while it has none; results wait in the window while stdout is full.
 */
function stream(command: MapCommand, pool: Pool, url: string, io: Io): Promise<number> {
  const { stdin, stdout, stderr } = io;
  const { onError, ordered } = command;
  const settle = onError === 'settle';
  let skipped = 0;
  /** Lines that were not JSON (skip, settle), counted in the progress line as failed. */
  let badLines = 0;
  let progressShown = false;
  let readFailure: Error | undefined;
  /** `--on-error fail`, unordered: the first line found not JSON; later lines are left out. */
  let notJson: { index: number; message: string } | undefined;

  /** Writes to stderr, on a fresh line if a progress line is showing. */
  const report = (message: string) => {
    if (progressShown) stderr.write('\r\x1b[K');
    progressShown = false;
    stderr.write(`rxpool: ${message}\n`);
  };

  const showReport = (p: Progress) => {
    const failed = p.failed + badLines > 0 ? `, ${p.failed + badLines} failed` : '';
    const rate = `${p.rate >= 100 ? Math.round(p.rate) : p.rate.toFixed(1)}/s`;
    stderr.write(`\r\x1b[Krxpool: ${p.done} done${failed}, ${rate}${p.final ? '\n' : ''}`);
    progressShown = !p.final;
  };

  // --- line numbers ---------------------------------------------------------------------------
  /** Blank lines read so far; while none, the line of item `index` is `index + 1`. */
  let blanks = 0;
  /** After the first blank line: the line number of each item in flight, by its index. */
  const lineOf = new Map<number, number>();
  const lineAt = (index: number): number => lineOf.get(index) ?? index + 1;

  // --- output ---------------------------------------------------------------------------------
  let out = '';
  let flushScheduled = false;
  let outputGone = false;
  const flush = () => {
    flushScheduled = false;
    if (out === '' || outputGone) return;
    const block = out;
    out = '';
    if (!stdout.write(block)) {
      // Results wait in the engine's window until stdout drains; a full window stops reading.
      engine.pause();
      stdout.once('drain', () => engine.resume());
    }
  };
  const write = (text: string) => {
    out += `${text}\n`;
    if (out.length >= WRITE_BLOCK) flush();
    else if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  };

  // --- the end --------------------------------------------------------------------------------
  let finished: (end: End) => void = () => {};
  const ended = new Promise<End>((resolve) => {
    finished = resolve;
  });
  let end: End | undefined;
  /** Ends the run: reading stops, the work in flight is dropped, what was written goes out. */
  const finish = (result: End) => {
    if (end) return;
    end = result;
    stopReading();
    engine.cancel();
    flush();
    finished(result);
  };

  // The reader went away (`| head`): stop quietly, as other filters do.
  stdout.on('error', (error: NodeJS.ErrnoException) => {
    outputGone = true;
    finish(
      error.code === 'EPIPE'
        ? { code: ExitCode.ok }
        : { code: ExitCode.failed, message: `cannot write the output: ${error.message}` },
    );
  });

  /** Handles a failed line by `--on-error`; ends the run in `fail` mode. */
  const failed = (index: number, input: () => unknown, error: Error) => {
    const line = lineAt(index);
    if (onError === 'fail') {
      finish({
        code: ExitCode.failed,
        message: `line ${line} ${describeFailure(error)}${workerStack(error)}`,
      });
      return;
    }
    if (onError === 'skip') {
      skipped++;
      report(`line ${line} skipped: ${describeFailure(error)}`);
      return;
    }
    let text: string;
    const value = input();
    try {
      text = JSON.stringify(
        { ok: false, index, line, input: value, error: errorJson(error) },
        safe,
      );
    } catch {
      // a property JSON cannot hold (a cycle): the name and message still tell what happened
      const brief = { name: error.name, message: error.message };
      text = JSON.stringify({ ok: false, index, line, input: value, error: brief });
    }
    write(text);
  };

  /** A line's input as the settled record shows it: parsed (the workers saw it parse). */
  const parsed = (line: unknown) => () => JSON.parse(line as string);

  const resolved = resolveParallel<string>(
    task(url, command.exportName),
    {
      concurrency: command.concurrency,
      ordered,
      timeout: command.timeout,
      retry: command.retry,
      progress: stderr.isTTY === true ? showReport : undefined,
    },
    'rxpool map',
  );
  const work: WorkSpec = {
    ...(resolved.config.work as WorkSpec),
    lines: settle ? 'settle' : 'value',
  };
  const engine: Engine<string, LineResult> = new Engine<string, LineResult>(
    { ...resolved.config, work },
    pool.dispatcher,
    realClock,
    {
      value: (result, index, line) => {
        if (notJson !== undefined && index > notJson.index) return;
        if (typeof result === 'string') {
          write(settle ? `{"ok":true,"index":${index},"line":${lineAt(index)},${result}` : result);
        } else if ('notJson' in result) {
          if (onError === 'fail') {
            // The lines before it still finish and are written; then the run ends with this.
            const message = `line ${lineAt(index)} is not JSON: ${result.notJson}`;
            if (ordered) finish({ code: ExitCode.input, message });
            else if (notJson === undefined || index < notJson.index) {
              notJson = { index, message };
              stopReading();
              engine.end();
            }
            return;
          }
          badLines++;
          failed(index, () => line, new SyntaxError(result.notJson));
        } else {
          const message = `its result cannot be written as JSON: ${result.unwritable}`;
          failed(index, parsed(line), new TypeError(message));
        }
        if (blanks > 0) lineOf.delete(index);
      },
      failure: (error) => {
        if (notJson !== undefined && error.index > notJson.index) return;
        failed(error.index, parsed(error.input), error);
        if (blanks > 0) lineOf.delete(error.index);
      },
      error: (error) => finish({ code: ExitCode.failed, message: (error as Error).message }),
      complete: () => {
        if (readFailure) {
          const message = `cannot read the input: ${readFailure.message}`;
          finish({ code: ExitCode.failed, message });
        } else if (notJson !== undefined) {
          finish({ code: ExitCode.input, message: notJson.message });
        } else if (skipped > 0) {
          const count =
            skipped === 1 ? '1 line failed and was' : `${skipped} lines failed and were`;
          finish({ code: ExitCode.skipped, message: `${count} skipped` });
        } else finish({ code: ExitCode.ok });
      },
      pull: () => feed(),
    },
  );

  // --- input ----------------------------------------------------------------------------------
  const decoder = new StringDecoder('utf8');
  /** The text read and not yet cut into lines, from `at` on. */
  let text = '';
  let at = 0;
  /** The start of a line that goes on in the next chunk (one 50 MB line comes in many). */
  let partial: string[] = [];
  let lineNumber = 0;
  /** Lines pushed to the engine: the index of the next one. */
  let pushed = 0;
  let inputEnded = false;
  let reading = true;
  /** `feed` is running: a `pull` from inside a push is left to the loop that pushed. */
  let feeding = false;

  /** One line (without its `\n`): blank lines are counted and left out, as readline does. */
  const take = (line: string) => {
    if (line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
    // readline also ends a line at a lone `\r`
    if (line.includes('\r')) {
      for (const part of line.split('\r')) takeOne(part);
    } else takeOne(line);
  };
  const takeOne = (line: string) => {
    lineNumber++;
    const first = line.charCodeAt(0);
    if (!(first > 32 && first < 127) && line.trim() === '') {
      blanks++;
      return;
    }
    if (blanks > 0) lineOf.set(pushed, lineNumber);
    pushed++;
    engine.push(line);
  };

  /** Cuts lines and pushes them while the window has room; reads on while it has. */
  const feed = () => {
    if (feeding) return;
    feeding = true;
    try {
      cut();
    } finally {
      feeding = false;
    }
  };
  const cut = () => {
    while (reading && engine.room > 0) {
      const newline = text.indexOf('\n', at);
      if (newline === -1) {
        if (at < text.length) partial.push(at === 0 ? text : text.slice(at));
        text = '';
        at = 0;
        if (inputEnded) {
          const last = partial.join('');
          partial = [];
          reading = false;
          // readline gives a last line without a newline, and no empty one after a newline
          if (last !== '') take(last);
          engine.end();
          return;
        }
        stdin.resume();
        return;
      }
      let line = text.slice(at, newline);
      at = newline + 1;
      if (partial.length > 0) {
        partial.push(line);
        line = partial.join('');
        partial = [];
      }
      take(line);
    }
    if (reading) stdin.pause();
  };

  /** Stops reading at once; the lines pushed so far still run. */
  function stopReading() {
    if (!reading) return;
    reading = false;
    text = '';
    partial = [];
    stdin.pause();
    stdin.destroy();
  }

  stdin.on('data', (chunk: Buffer | string) => {
    if (!reading) return;
    const more = typeof chunk === 'string' ? chunk : decoder.write(chunk);
    text = at < text.length ? text.slice(at) + more : more;
    at = 0;
    feed();
  });
  stdin.on('end', () => {
    if (!reading) return;
    const rest = decoder.end();
    text = at < text.length ? text.slice(at) + rest : rest;
    at = 0;
    inputEnded = true;
    feed();
  });
  stdin.on('error', (error: Error) => {
    if (!reading) return;
    readFailure = error;
    reading = false;
    engine.end();
  });
  feed();

  return ended.then(async (result) => {
    if (result.message !== undefined) report(result.message);
    else if (progressShown) stderr.write('\n');
    await (result.code === ExitCode.ok || result.code === ExitCode.skipped
      ? pool.close()
      : pool.destroy());
    return result.code;
  });
}

/**
 * Whether lines travel in blocks of bytes (the fast path) or one by one. One by one: with
 * `--timeout` and `--retry` (they apply to each line, and the pool times and retries items), with
 * `--on-error settle` (a record carries its index among the non-blank lines, which only the
 * workers count) and with a `--concurrency` below a block's lines.
 */
export function usesBlocks(command: MapCommand): boolean {
  return (
    command.onError !== 'settle' &&
    command.timeout === undefined &&
    command.retry === 0 &&
    command.concurrency >= MIN_BLOCK_CONCURRENCY
  );
}

/** Below this `--concurrency`, lines go one by one (a block holds hundreds of lines). */
const MIN_BLOCK_CONCURRENCY = 4096;

/** A block of whole lines, and the number of its first line (unordered; ordered counts on). */
interface Block extends LineBlock {
  readonly firstLine: number;
}

/**
 * The fast path: stdin is cut into blocks of whole lines (about 64 KB) that go to the workers as
 * bytes; a worker cuts them into lines, parses, runs the task and stringifies, and sends back the
 * block's output as one string, written as it is (in input order, or `--unordered` as it comes).
 * The main thread never touches a line. At most two blocks per worker and one more are read ahead
 * (and stdin waits while they are), and results wait while stdout is full. A block whose worker
 * was lost runs again line by line (each line its own item), so that the line that took the worker
 * down is the one that fails.
 */
function streamBlocks(command: MapCommand, pool: Pool, url: string, io: Io): Promise<number> {
  const { stdin, stdout, stderr } = io;
  const { onError, ordered } = command;
  let skipped = 0;
  let doneLines = 0;
  let failedLines = 0;
  /** Ordered: the number of the next block's first line. */
  let nextLine = 1;
  let readFailure: Error | undefined;
  /** Unordered `fail`: the first line found not JSON; blocks after its block are left out. */
  let notJson: { index: number; message: string } | undefined;

  const tty = stderr.isTTY === true;
  let progressShown = false;
  let progressAt = 0;
  const started = performance.now();
  const progress = (final: boolean) => {
    if (!tty) return;
    const now = performance.now();
    if (!final && now - progressAt < 100) return;
    progressAt = now;
    const rate = (doneLines * 1000) / Math.max(1, now - started);
    const failed = failedLines > 0 ? `, ${failedLines} failed` : '';
    const shown = `${rate >= 100 ? Math.round(rate) : rate.toFixed(1)}/s`;
    stderr.write(`\r\x1b[Krxpool: ${doneLines} done${failed}, ${shown}${final ? '\n' : ''}`);
    progressShown = !final;
  };
  const report = (message: string) => {
    if (progressShown) stderr.write('\r\x1b[K');
    progressShown = false;
    stderr.write(`rxpool: ${message}\n`);
  };

  let outputGone = false;
  let paused = false;
  const write = (text: string | Uint8Array) => {
    if (text.length === 0 || outputGone) return;
    if (!stdout.write(text) && !paused) {
      // Results wait in the window until stdout drains; a full window stops reading.
      paused = true;
      blocks.pause();
      stdout.once('drain', () => {
        paused = false;
        if (!rerunning) blocks.resume();
      });
    }
  };

  let finished: (end: End) => void = () => {};
  const ended = new Promise<End>((resolve) => {
    finished = resolve;
  });
  let end: End | undefined;
  const finish = (result: End) => {
    if (end) return;
    end = result;
    stopReading();
    blocks.cancel();
    rerun?.cancel();
    finished(result);
  };
  stdout.on('error', (error: NodeJS.ErrnoException) => {
    outputGone = true;
    finish(
      error.code === 'EPIPE'
        ? { code: ExitCode.ok }
        : { code: ExitCode.failed, message: `cannot write the output: ${error.message}` },
    );
  });

  /** A failed line, by `--on-error` (`fail` or `skip`). */
  const failed = (line: number, error: Error) => {
    failedLines++;
    if (onError === 'fail') {
      const code = error instanceof SyntaxError ? ExitCode.input : ExitCode.failed;
      const message =
        error instanceof SyntaxError
          ? `line ${line} is not JSON: ${error.message}`
          : `line ${line} ${describeFailure(error)}${workerStack(error)}`;
      finish({ code, message });
      return;
    }
    skipped++;
    report(`line ${line} skipped: ${describeFailure(error)}`);
  };

  /** A block's failed line as today's error: a TaskError for the task's own failures. */
  const blockError = (failure: BlockFailure): Error => {
    if (failure.notJson !== undefined) return new SyntaxError(failure.notJson);
    if (failure.unwritable !== undefined) {
      return new TypeError(`its result cannot be written as JSON: ${failure.unwritable}`);
    }
    const cause = new Error(failure.error!.message);
    cause.name = failure.error!.name;
    cause.stack = failure.error!.stack;
    return new TaskError({ index: 0, input: undefined, attempts: 1, cause });
  };

  const resolved = resolveParallel<Block>(
    task(url, command.exportName),
    {
      concurrency: 2 * pool.stats().size + 1,
      ordered,
    },
    'rxpool map',
  );
  const mode = onError === 'fail' ? 'block-fail' : 'block-skip';
  const work: WorkSpec = { ...(resolved.config.work as WorkSpec), lines: mode };

  /** Handles a block's result; false when the run ended. */
  const blockDone = (result: BlockResult, firstLine: number) => {
    doneLines += result.done;
    write(result.bytes);
    for (const failure of result.failures ?? []) {
      const line = firstLine + failure.line - 1;
      if (failure.notJson !== undefined && onError === 'fail' && !ordered) {
        // The lines before it, in blocks still running, are written first; later ones are not.
        if (notJson === undefined || line < notJson.index) {
          notJson = { index: line, message: `line ${line} is not JSON: ${failure.notJson}` };
          stopReading();
          blocks.end();
        }
        return;
      }
      failed(line, blockError(failure));
      if (end) return;
    }
    progress(false);
  };

  let rerun: Engine<string, LineResult> | undefined;
  let rerunning = false;
  /**
   * A block failed as a whole (its worker was lost): its lines run again one by one, in order,
   * while the block stream waits.
   */
  const runLines = (block: Block, firstLine: number) => {
    rerunning = true;
    blocks.pause();
    const text = new TextDecoder().decode(block.bytes);
    const lines = text.includes('\r') ? text.split(/\r?\n|\r/) : text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    const numbers: number[] = [];
    const { config } = resolveParallel<string>(task(url, command.exportName), {}, 'rxpool map');
    rerun = new Engine<string, LineResult>(
      { ...config, work: { ...work, lines: 'value' } },
      pool.dispatcher,
      realClock,
      {
        value: (result, index) => {
          doneLines++;
          const line = numbers[index]!;
          if (typeof result === 'string') write(`${result}\n`);
          else if ('notJson' in result) failed(line, new SyntaxError(result.notJson));
          else {
            failed(
              line,
              new TypeError(`its result cannot be written as JSON: ${result.unwritable}`),
            );
          }
        },
        failure: (error) => failed(numbers[error.index]!, error),
        error: (error) => finish({ code: ExitCode.failed, message: (error as Error).message }),
        complete: () => {
          rerun = undefined;
          rerunning = false;
          if (blocksComplete) complete();
          else if (!paused) blocks.resume();
        },
      },
    );
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (line.trim() === '') continue;
      numbers.push(firstLine + i);
      rerun.push(line);
    }
    rerun.end();
  };

  const blocks: Engine<Block, BlockResult> = new Engine<Block, BlockResult>(
    { ...resolved.config, work },
    pool.dispatcher,
    realClock,
    {
      value: (result, _index, block) => {
        running--;
        const firstLine = ordered ? nextLine : block.firstLine;
        if (ordered) nextLine += result.lines;
        if (notJson !== undefined && firstLine > notJson.index) return;
        blockDone(result, firstLine);
      },
      failure: (error) => {
        running--;
        const block = error.input;
        const firstLine = ordered ? nextLine : block.firstLine;
        if (ordered) nextLine += countLines(block.bytes);
        if (notJson !== undefined && firstLine > notJson.index) return;
        runLines(block, firstLine);
      },
      error: (error) => finish({ code: ExitCode.failed, message: (error as Error).message }),
      complete: () => {
        // the last block may still run again line by line
        if (rerunning) blocksComplete = true;
        else complete();
      },
      pull: () => feed(),
    },
  );
  let blocksComplete = false;
  const complete = () => {
    if (readFailure) {
      const message = `cannot read the input: ${readFailure.message}`;
      finish({ code: ExitCode.failed, message });
    } else if (notJson !== undefined) {
      finish({ code: ExitCode.input, message: notJson.message });
    } else if (skipped > 0) {
      const count = skipped === 1 ? '1 line failed and was' : `${skipped} lines failed and were`;
      finish({ code: ExitCode.skipped, message: `${count} skipped` });
    } else finish({ code: ExitCode.ok });
  };

  // --- input ----------------------------------------------------------------------------------
  let chunks: Buffer[] = [];
  let size = 0;
  /** A line end was read since the last block was cut. */
  let lineEnded = false;
  let inputEnded = false;
  let reading = true;
  let feeding = false;
  /** Unordered: the number of the next block's first line. */
  let lineCount = 1;
  /** Blocks pushed whose result has not come yet. */
  let running = 0;
  const workers = pool.stats().size;

  /** Cuts blocks and pushes them while the window has room; reads on while it has. */
  const feed = () => {
    if (feeding) return;
    feeding = true;
    try {
      while (reading && blocks.room > 0) {
        if (size === 0 && !inputEnded) {
          stdin.resume();
          return;
        }
        if (size === 0) {
          reading = false;
          blocks.end();
          return;
        }
        // A block is what was read, up to its last line end, once it is BLOCK bytes or more, or
        // at once while a worker waits for work (a slow source still gets its lines through).
        if (!inputEnded && (!lineEnded || (size < BLOCK && running >= workers))) {
          // no line ends in what was read (a long line), or more can come before it is needed
          stdin.resume();
          return;
        }
        const whole = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
        const newline = whole.lastIndexOf(10);
        const cut = inputEnded ? whole.length : newline + 1;
        const bytes = whole.subarray(0, cut);
        const rest = whole.subarray(cut);
        chunks = rest.length > 0 ? [rest] : [];
        size = rest.length;
        lineEnded = false;
        let firstLine = 0;
        if (!ordered) {
          firstLine = lineCount;
          lineCount += countLines(bytes);
        }
        running++;
        blocks.push({ bytes, firstLine });
      }
      if (reading) stdin.pause();
    } finally {
      feeding = false;
    }
  };

  function stopReading() {
    if (!reading) return;
    reading = false;
    chunks = [];
    stdin.pause();
    stdin.destroy();
  }

  stdin.on('data', (chunk: Buffer | string) => {
    if (!reading) return;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    chunks.push(bytes);
    size += bytes.length;
    if (!lineEnded) lineEnded = bytes.lastIndexOf(10) !== -1;
    feed();
  });
  stdin.on('end', () => {
    if (!reading) return;
    inputEnded = true;
    feed();
  });
  stdin.on('error', (error: Error) => {
    if (!reading) return;
    readFailure = error;
    reading = false;
    blocks.end();
  });
  feed();

  return ended.then(async (result) => {
    if (result.message !== undefined) report(result.message);
    else if (progressShown) stderr.write('\n');
    if (result.code === ExitCode.ok || result.code === ExitCode.skipped) progress(true);
    await (result.code === ExitCode.ok || result.code === ExitCode.skipped
      ? pool.close()
      : pool.destroy());
    return result.code;
  });
}

/**
 * A block is cut once this many bytes are read (or sooner, while a worker has nothing to do): a
 * stdin read gives at most 64 KB, and each block costs the main thread a message both ways.
 */
const BLOCK = 256 * 1024;

/** How many lines a block holds, counted as readline does (`\n`, `\r\n`, a lone `\r`). */
function countLines(bytes: Uint8Array): number {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.includes(13)) {
    const lines = buffer.toString('utf8').split(/\r?\n|\r/);
    return lines[lines.length - 1] === '' ? lines.length - 1 : lines.length;
  }
  let count = 0;
  for (let at = buffer.indexOf(10); at !== -1; at = buffer.indexOf(10, at + 1)) count++;
  return buffer.length > 0 && buffer[buffer.length - 1] !== 10 ? count + 1 : count;
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

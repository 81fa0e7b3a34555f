/**
 * `rxpool map` in blocks, the fast path: stdin is cut into blocks of whole lines that go to the
 * workers as bytes; a worker cuts them into lines, parses, runs the task and stringifies, and
 * writes the block's output as UTF-8 bytes into memory it shares with the main thread (see
 * {@link Memory}), written to stdout as they are (in input order, or `--unordered` as they come).
 * The main thread never touches a line. At most two blocks per worker and one more are out at a
 * time (and reading waits while they are), and results wait while stdout is full. A block whose worker was lost runs again line by line (each line its own
 * item), so that the line that took the worker down is the one that fails.
 */
import { realClock } from '../../engine/clock.js';
import { Engine } from '../../engine/engine.js';
import { TaskError } from '../../errors.js';
import { resolveParallel } from '../../options.js';
import type { Pool } from '../../pool/pool.js';
import { task } from '../../pool/task.js';
import { CliError, ExitCode, type MapCommand } from '../args.js';
import type { BlockFailure, BlockResult, LineBlock } from '../task/json-blocks.js';
import type { LineResult } from '../task/json-lines.js';
import { lineWork } from '../work.js';
import { close, Ending, outcome } from './end.js';
import { describeFailure, workerStack } from './failures.js';
import { Input } from './input.js';
import type { Io } from './io.js';
import { Output } from './output.js';
import { Stderr } from './stderr.js';

/**
 * A block of whole lines, the memory for its output (always given here), and the number of its
 * first line (unordered; ordered counts on).
 */
interface Block extends LineBlock {
  readonly out: Uint8Array;
  readonly firstLine: number;
}

/**
 * A block is cut once this many bytes are read (or sooner, while a worker has nothing to do): each
 * block costs the main thread a message both ways, and a worker's memory grows with its block.
 * Below 128 KB: a worker decodes a block of ASCII as one string, and V8 puts a string over 128 KB
 * (its largest regular object) in memory of its own, fresh each time.
 */
const BLOCK = 120 * 1024;

/**
 * Runs `rxpool map` in blocks. `checked` is the check of the module's export (./run.ts), made in
 * a worker while the first blocks already go (by default: made already). What the blocks give
 * waits for it; when it fails, the run ends with why and nothing of the input is written.
 */
export function mapBlocks(
  command: MapCommand,
  pool: Pool,
  url: string,
  io: Io,
  checked: Promise<void> = Promise.resolve(),
): Promise<number> {
  const { onError, ordered } = command;
  const stderr = new Stderr(io.stderr);
  let skipped = 0;
  let doneLines = 0;
  let failedLines = 0;
  /** Ordered: the number of the next block's first line. */
  let nextLine = 1;
  /** Unordered `fail`: the first line found not JSON; blocks after its block are left out. */
  let notJson: { index: number; message: string } | undefined;

  let progressAt = 0;
  const started = performance.now();
  const progress = (final: boolean) => {
    if (!stderr.tty) return;
    const now = performance.now();
    if (!final && now - progressAt < 100) return;
    progressAt = now;
    stderr.progress(doneLines, failedLines, (doneLines * 1000) / Math.max(1, now - started), final);
  };

  const ending = new Ending(() => {
    input.stop();
    blocks.cancel();
    rerun?.cancel();
  });
  const output = new Output(io.stdout, {
    // Results wait in the window until stdout drains; a full window stops reading.
    full: () => blocks.pause(),
    drained: () => {
      if (!rerunning) blocks.resume();
    },
    gone: (end) => ending.finish(end),
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
      ending.finish({ code, message });
      return;
    }
    skipped++;
    stderr.report(`line ${line} skipped: ${describeFailure(error)}`);
  };

  const resolved = resolveParallel<Block>(
    task(url, command.exportName),
    {
      concurrency: 2 * pool.stats().size + 1,
      // A block is a batch: blocks are sized for the workers already. Batched by the engine, two
      // would go together, and again each time two came back at once, to the link just freed:
      // one worker would run more than its share of the lines.
      batchSize: 1,
      ordered,
    },
    'rxpool map',
  );
  const mode = onError === 'fail' ? 'blockFail' : 'blockSkip';
  const work = lineWork(url, command.exportName, mode, command.flat);

  /** Handles a block's result; `written` is called once its bytes are written. */
  const blockDone = (result: BlockResult, firstLine: number, written?: () => void) => {
    doneLines += result.done;
    output.write(result.bytes, written);
    for (const failure of result.failures ?? []) {
      const line = firstLine + failure.line - 1;
      if (failure.notJson !== undefined && onError === 'fail' && !ordered) {
        // The lines before it, in blocks still running, are written first; later ones are not.
        if (notJson === undefined || line < notJson.index) {
          notJson = { index: line, message: `line ${line} is not JSON: ${failure.notJson}` };
          input.stop();
          blocks.end();
        }
        return;
      }
      failed(line, blockError(failure));
      if (ending.finished) return;
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
      { ...config, work: lineWork(url, command.exportName, 'value', command.flat) },
      pool.dispatcher,
      realClock,
      {
        value: (result, index) => {
          doneLines++;
          const line = numbers[index]!;
          if (typeof result === 'string') output.write(`${result}\n`);
          else if ('many' in result) {
            if (result.many.length > 0) output.write(`${result.many.join('\n')}\n`);
          } else if ('notJson' in result) failed(line, new SyntaxError(result.notJson));
          else {
            failed(
              line,
              new TypeError(`its result cannot be written as JSON: ${result.unwritable}`),
            );
          }
        },
        failure: (error) => failed(numbers[error.index]!, error),
        error: (error) =>
          ending.finish({ code: ExitCode.failed, message: (error as Error).message }),
        complete: () => {
          rerun = undefined;
          rerunning = false;
          if (blocksComplete) complete();
          else if (!output.full) blocks.resume();
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

  /** What the blocks gave before the export was checked; undefined once the check ended. */
  let held: (() => void)[] | undefined = [];
  let checkFailed = false;
  /** Handles what the blocks give once the export was checked (and never when that failed). */
  const afterCheck = (report: () => void) => {
    if (held !== undefined) held.push(report);
    else if (!checkFailed) report();
  };
  checked.then(
    () => {
      const reports = held!;
      held = undefined;
      for (const report of reports) report();
    },
    (error: Error) => {
      held = undefined;
      checkFailed = true;
      const code = error instanceof CliError ? error.exitCode : ExitCode.failed;
      ending.finish({ code, message: error.message });
    },
  );

  /** Blocks pushed whose result has not come yet. */
  let running = 0;
  const workers = pool.stats().size;
  const blocks: Engine<Block, BlockResult> = new Engine<Block, BlockResult>(
    { ...resolved.config, work },
    pool.dispatcher,
    realClock,
    {
      value: (result, _index, block) =>
        afterCheck(() => {
          running--;
          lineMemory.give(block.bytes);
          // The output is in the block's output memory (shared), or (too long for it) in memory of
          // its own. A shared buffer comes back as another object over the same memory.
          const out = block.out;
          const shared = result.bytes.buffer instanceof SharedArrayBuffer;
          const written = shared ? () => outputMemory.give(out) : undefined;
          if (written === undefined) outputMemory.give(out);
          const firstLine = ordered ? nextLine : block.firstLine;
          if (ordered) nextLine += result.lines;
          if (notJson !== undefined && firstLine > notJson.index) return written?.();
          blockDone(result, firstLine, written);
        }),
      failure: (error) =>
        afterCheck(() => {
          running--;
          const block = error.input;
          const firstLine = ordered ? nextLine : block.firstLine;
          if (ordered) nextLine += countLines(block.bytes);
          if (notJson === undefined || firstLine <= notJson.index) runLines(block, firstLine);
          lineMemory.give(block.bytes);
          outputMemory.give(block.out);
        }),
      error: (error) =>
        afterCheck(() =>
          ending.finish({ code: ExitCode.failed, message: (error as Error).message }),
        ),
      complete: () =>
        afterCheck(() => {
          // the last block may still run again line by line
          if (rerunning) blocksComplete = true;
          else complete();
        }),
      pull: () => feed(),
    },
  );
  let blocksComplete = false;
  const complete = () => ending.finish(outcome({ readFailure: input.failure, notJson, skipped }));

  // --- input ----------------------------------------------------------------------------------
  const input = new Input(
    io.stdin,
    { ready: () => feed(), failed: () => blocks.end() },
    // a file is read into block memory, after the start of a line carried over from the last read
    (carried) => (carried < BLOCK / 2 ? lineMemory.take() : undefined),
  );
  let feeding = false;
  /** Unordered: the number of the next block's first line. */
  let lineCount = 1;

  /** Cuts blocks and pushes them while the window has room; reads on while it has. */
  function feed() {
    if (feeding) return;
    feeding = true;
    try {
      while (input.reading && blocks.room > 0) {
        if (input.size === 0) {
          if (input.ended) {
            input.done();
            blocks.end();
          } else input.more();
          return;
        }
        // A block is cut once BLOCK bytes are read, or at once while a worker waits for work (a
        // slow source still gets its lines through), at a line end (see Input.cutAt).
        if (!input.ended && (!input.lineEnded || (input.size < BLOCK && running >= workers))) {
          // no line ends in what was read (a long line), or more can come before it is needed
          input.more();
          return;
        }
        const bytes = input.takeInto(input.cutAt(BLOCK), (size) => lineMemory.take(size));
        let firstLine = 0;
        if (!ordered) {
          firstLine = lineCount;
          lineCount += countLines(bytes);
        }
        running++;
        blocks.push({ bytes, firstLine, out: outputMemory.take() });
      }
      if (input.reading) input.hold();
    } finally {
      feeding = false;
    }
  }

  feed();
  return close(ending, pool, stderr, () => progress(true));
}

/**
 * Memory shared with the workers, of one size, kept to be used again: a block's lines, and its
 * output. A message would copy a view's whole `ArrayBuffer`, twice (here and in the worker), while
 * shared memory goes as it is and stays readable here (a block whose worker was lost runs again
 * line by line), and a worker writes its output into memory used before. Memory is used again once
 * its block's result is back (lines) or written (output): fresh memory costs a page fault per
 * 4 KB, as much as the copy.
 */
class Memory {
  private readonly kept: SharedArrayBuffer[] = [];

  /** `keep`: at most this many kept. */
  constructor(
    private readonly size: number,
    private readonly keep: number,
  ) {}

  /** `size` bytes: kept memory when they fit in it, else memory of their own. */
  take(size = this.size): Uint8Array {
    const memory =
      size <= this.size
        ? (this.kept.pop() ?? new SharedArrayBuffer(this.size))
        : new SharedArrayBuffer(size);
    return new Uint8Array(memory, 0, size);
  }

  /** Memory given back, kept if it is of the size and there is room. */
  give(bytes: Uint8Array): void {
    if (bytes.buffer.byteLength === this.size && this.kept.length < this.keep) {
      this.kept.push(bytes.buffer as SharedArrayBuffer);
    }
  }
}

/** Kept: the blocks out at a time with 2 workers, and one more. */
const KEEP = 8;
const lineMemory = new Memory(BLOCK, KEEP);
/** Output up to twice its lines' bytes goes in it; longer output comes in memory of its own. */
const outputMemory = new Memory(2 * BLOCK, KEEP);

/** A block's failed line as the line path's error: a TaskError for the task's own failures. */
function blockError(failure: BlockFailure): Error {
  if (failure.notJson !== undefined) return new SyntaxError(failure.notJson);
  if (failure.unwritable !== undefined) {
    return new TypeError(`its result cannot be written as JSON: ${failure.unwritable}`);
  }
  const cause = new Error(failure.error!.message);
  cause.name = failure.error!.name;
  cause.stack = failure.error!.stack;
  return new TaskError({ index: 0, input: undefined, attempts: 1, cause });
}

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

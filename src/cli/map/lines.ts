/**
 * `rxpool map` line by line: each line is its own item (so `--timeout` and `--retry` apply to it,
 * and a settled record carries its index). Stdin is cut at line ends into strings, which go to the
 * pool as they are; the workers parse, run the task and stringify (the `value` or `settle` export of
 * ../task/json-task.ts), and the JSON text they send back is written in blocks. The engine is fed
 * while its window has room and reading waits while it has none; results wait in the window while
 * stdout is full.
 */
import { StringDecoder } from 'node:string_decoder';
import { realClock } from '../../engine/clock.js';
import { Engine } from '../../engine/engine.js';
import type { Progress } from '../../engine/progress.js';
import { resolveParallel } from '../../options.js';
import type { Pool } from '../../pool/pool.js';
import { task } from '../../pool/task.js';
import { ExitCode, type MapCommand } from '../args.js';
import type { LineResult } from '../task/json-lines.js';
import { lineWork } from '../work.js';
import { close, Ending, outcome } from './end.js';
import { describeFailure, errorJson, safe, workerStack } from './failures.js';
import { Input } from './input.js';
import type { Io } from './io.js';
import { Output } from './output.js';
import { Stderr } from './stderr.js';

/** Output is written in blocks of about this many characters (and at the end of each turn). */
const WRITE_BLOCK = 65_536;

export function mapLines(command: MapCommand, pool: Pool, url: string, io: Io): Promise<number> {
  const { onError, ordered } = command;
  const settle = onError === 'settle';
  const stderr = new Stderr(io.stderr);
  let skipped = 0;
  /** Lines that were not JSON (skip, settle), counted in the progress line as failed. */
  let badLines = 0;
  /** `--on-error fail`, unordered: the first line found not JSON; later lines are left out. */
  let notJson: { index: number; message: string } | undefined;

  // --- line numbers ---------------------------------------------------------------------------
  /** Blank lines read so far; while none, the line of item `index` is `index + 1`. */
  let blanks = 0;
  /** After the first blank line: the line number of each item in flight, by its index. */
  const lineOf = new Map<number, number>();
  const lineAt = (index: number): number => lineOf.get(index) ?? index + 1;

  // --- the end --------------------------------------------------------------------------------
  /** Ends the run: reading stops, the work in flight is dropped, what was written goes out. */
  const ending = new Ending(() => {
    stopReading();
    engine.cancel();
    flush();
  });

  // --- output ---------------------------------------------------------------------------------
  const output = new Output(io.stdout, {
    full: () => engine.pause(),
    drained: () => engine.resume(),
    gone: (end) => ending.finish(end),
  });
  let out = '';
  let flushScheduled = false;
  function flush() {
    flushScheduled = false;
    if (out === '') return;
    const block = out;
    out = '';
    output.write(block);
  }
  const write = (text: string) => {
    out += `${text}\n`;
    if (out.length >= WRITE_BLOCK) flush();
    else if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  };

  /** Handles a failed line by `--on-error`; ends the run in `fail` mode. */
  const failed = (index: number, input: () => unknown, error: Error) => {
    const line = lineAt(index);
    if (onError === 'fail') {
      ending.finish({
        code: ExitCode.failed,
        message: `line ${line} ${describeFailure(error)}${workerStack(error)}`,
      });
      return;
    }
    if (onError === 'skip') {
      skipped++;
      stderr.report(`line ${line} skipped: ${describeFailure(error)}`);
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
      progress: stderr.tty
        ? (p: Progress) => stderr.progress(p.done, p.failed + badLines, p.rate, p.final)
        : undefined,
    },
    'rxpool map',
  );
  const work = lineWork(url, command.exportName, settle ? 'settle' : 'value', command.flat);
  const engine: Engine<string, LineResult> = new Engine<string, LineResult>(
    { ...resolved.config, work },
    pool.dispatcher,
    realClock,
    {
      value: (result, index, line) => {
        if (notJson !== undefined && index > notJson.index) return;
        if (typeof result === 'string') {
          write(settle ? `{"ok":true,"index":${index},"line":${lineAt(index)},${result}` : result);
        } else if ('many' in result) {
          const head = settle ? `{"ok":true,"index":${index},"line":${lineAt(index)},` : '';
          for (const text of result.many) write(head + text);
        } else if ('notJson' in result) {
          if (onError === 'fail') {
            // The lines before it still finish and are written; then the run ends with this.
            const message = `line ${lineAt(index)} is not JSON: ${result.notJson}`;
            if (ordered) ending.finish({ code: ExitCode.input, message });
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
      error: (error) => ending.finish({ code: ExitCode.failed, message: (error as Error).message }),
      complete: () => ending.finish(outcome({ readFailure: input.failure, notJson, skipped })),
      pull: () => feed(),
    },
  );

  // --- input ----------------------------------------------------------------------------------
  const input = new Input(io.stdin, { ready: () => feed(), failed: () => engine.end() });
  const decoder = new StringDecoder('utf8');
  /** The text taken from the input and not yet cut into lines, from `at` on. */
  let text = '';
  let at = 0;
  /** The start of a line that goes on in the next chunk (one 50 MB line comes in many). */
  let partial: string[] = [];
  let lineNumber = 0;
  /** Lines pushed to the engine: the index of the next one. */
  let pushed = 0;
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
  function feed() {
    if (feeding) return;
    feeding = true;
    try {
      cut();
    } finally {
      feeding = false;
    }
  }
  const cut = () => {
    while (input.reading && engine.room > 0) {
      const newline = text.indexOf('\n', at);
      if (newline === -1) {
        if (at < text.length) partial.push(at === 0 ? text : text.slice(at));
        text = '';
        at = 0;
        if (input.size > 0) {
          text = decoder.write(input.take());
          continue;
        }
        if (input.ended) {
          const last = partial.join('') + decoder.end();
          partial = [];
          input.done();
          // readline gives a last line without a newline, and no empty one after a newline
          if (last !== '') take(last);
          engine.end();
          return;
        }
        input.more();
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
    if (input.reading) input.hold();
  };

  /** Stops reading at once; the lines pushed so far still run. */
  function stopReading() {
    text = '';
    partial = [];
    input.stop();
  }

  feed();
  return close(ending, pool, stderr);
}

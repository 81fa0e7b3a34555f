/**
 * `rxpool map`'s task over blocks of lines (the fast path): a block of whole lines comes as bytes,
 * and the worker cuts it into lines, parses, runs the user's function and stringifies each, so
 * that the main thread only moves bytes. Runs in a worker, loaded through ./json-task.ts.
 */
import { isAscii } from 'node:buffer';
import { MOVE_BRAND } from '../../wire/messages.js';
import type { WorkerContext as TaskContext } from '../../worker/context.js';
import { isThenable, takeValues, valuesOf } from './values.js';

/** The user's function, as the worker calls a task. */
export type Fn = (input: unknown, context: TaskContext) => unknown;

/**
 * Lines as bytes: whole lines, each ended by `\n` (the last one of the input may not be). The
 * main side may hold them in a `SharedArrayBuffer`, so that they travel without a copy and stay
 * readable there (a block whose worker was lost runs again line by line).
 */
export interface LineBlock {
  readonly bytes: Uint8Array;
  /**
   * Shared memory for the block's output, where the main side gives it: the JSON lines are written
   * there when they fit, and the result's bytes are a view of it (nothing is moved, and the main
   * side uses the memory again for a later block once it wrote them). Bytes a worker allocates
   * for each block are fresh memory, on both sides: a page fault per 4 KB.
   */
  readonly out?: Uint8Array;
}

/** A line of a block that failed: its number in the block (from 1) and why. */
export interface BlockFailure {
  readonly line: number;
  readonly notJson?: string;
  readonly unwritable?: string;
  readonly error?: { readonly name: string; readonly message: string; readonly stack?: string };
}

/**
 * What a block gives: the JSON lines of its good lines as UTF-8 bytes (encoded here and moved to
 * the main side, which writes them as they are), and its failed ones.
 */
export interface BlockResult {
  readonly bytes: Uint8Array;
  /** Lines in the block, blank ones included. */
  readonly lines: number;
  /** Lines run (good and failed), blank ones not. */
  readonly done: number;
  readonly failures: BlockFailure[] | undefined;
}

interface BlockRun {
  readonly fn: Fn;
  readonly context: TaskContext;
  /** Each line's parsed value, {@link BLANK}, or a {@link NotParsed}. */
  readonly inputs: unknown[];
  readonly stop: boolean;
  /** Arrays are many values (`--flat`). */
  readonly flat: boolean;
  /** Where the output goes when it fits (see {@link LineBlock.out}). */
  readonly out: Uint8Array | undefined;
  text: string;
  done: number;
  failures: BlockFailure[] | undefined;
}

const encoder = new TextEncoder();

/**
 * `fn` over blocks of lines: the worker cuts the block into lines as readline does (at `\n`,
 * `\r\n` and a lone `\r`), leaves blank lines out, and parses, runs and stringifies each line, so
 * that the main thread only moves bytes. A failed line is reported by its number in the block;
 * with `stop` (`--on-error fail`) the lines after it do not run.
 *
 * Every line of the block is parsed first, then each is run and its result stringified in turn:
 * `JSON.parse` in a loop of its own costs less CPU than taking turns with the task and
 * `JSON.stringify`. Parsing has no effect a task could see, and a result is still stringified as
 * soon as its task returns, before the next line runs.
 */
export function jsonBlocks(fn: Fn, stop: boolean, flat = false): Fn {
  return (input, context) => {
    const { bytes, out } = input as LineBlock;
    const inputs = parseBlock(bytes);
    const run = { fn, context, inputs, stop, flat, out, text: '', done: 0, failures: undefined };
    return runBlock(run, 0);
  };
}

/** A blank line's place among a block's parsed lines. */
const BLANK = Symbol('blank line');

/** A line that is not JSON, among a block's parsed lines (`JSON.parse` gives no class instance). */
class NotParsed {
  constructor(readonly message: string) {}
}

/**
 * Each line's value, {@link BLANK} for a blank line, or a {@link NotParsed}. A block of ASCII (most
 * NDJSON) is decoded whole, the cheapest way, and its lines are one-byte strings. Otherwise each
 * line is cut in the bytes and decoded alone: a line of ASCII then still becomes a one-byte
 * string, where a slice of the whole block's text would be two-byte as soon as one line in the
 * block is not ASCII, and `JSON.parse` reads one-byte strings faster. Buffer's UTF-8 decoding
 * and `TextDecoder`'s turn malformed bytes into U+FFFD alike.
 */
function parseBlock(bytes: Uint8Array): unknown[] {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // A byte order mark at the start is no part of the first line (TextDecoder drops it too).
  let at = buffer[0] === 0xef && buffer[1] === 0xbb && buffer[2] === 0xbf ? 3 : 0;
  if (buffer.includes(13)) {
    // `\r` ends a line too: rare enough to cut the text as readline does
    const lines = buffer.toString('utf8', at).split(/\r?\n|\r/);
    // the empty rest after the last line end
    if (lines[lines.length - 1] === '') lines.pop();
    return lines.map(parseLine);
  }
  if (isAscii(buffer)) {
    const lines = buffer.toString('latin1').split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    return lines.map(parseLine);
  }
  const inputs: unknown[] = [];
  while (at < buffer.length) {
    let end = buffer.indexOf(10, at);
    if (end === -1) end = buffer.length;
    inputs.push(parseLine(buffer.toString('utf8', at, end)));
    at = end + 1;
  }
  return inputs;
}

function parseLine(line: string): unknown {
  const first = line.charCodeAt(0);
  if (!(first > 32 && first < 127) && line.trim() === '') return BLANK;
  try {
    return JSON.parse(line);
  } catch (error) {
    return new NotParsed((error as Error).message);
  }
}

function runBlock(run: BlockRun, from: number): BlockResult | Promise<BlockResult> {
  const { fn, inputs, context } = run;
  for (let i = from; i < inputs.length; i++) {
    const input = inputs[i];
    if (input === BLANK) continue;
    run.done++;
    if (input instanceof NotParsed) {
      if (blockFailed(run, { line: i + 1, notJson: input.message })) break;
      continue;
    }
    let value: unknown;
    try {
      value = fn(input, context);
    } catch (error) {
      if (blockFailed(run, { line: i + 1, error: wireError(error) })) break;
      continue;
    }
    if (isThenable(value)) {
      return Promise.resolve(value).then(
        (settled) => goOn(run, i, blockValue(run, i, settled)),
        (error) => {
          if (blockFailed(run, { line: i + 1, error: wireError(error) })) return finished(run);
          return runBlock(run, i + 1);
        },
      );
    }
    const kept = blockValue(run, i, value);
    if (kept === false) break;
    if (kept !== true) return goOn(run, i, kept);
  }
  return finished(run);
}

/** The block goes on after line `i` once `kept` says it may (false: it stops there). */
function goOn(
  run: BlockRun,
  i: number,
  kept: boolean | Promise<boolean>,
): BlockResult | Promise<BlockResult> {
  if (kept === true) return runBlock(run, i + 1);
  if (kept === false) return finished(run);
  return kept.then((ok) => (ok ? runBlock(run, i + 1) : finished(run)));
}

function finished(run: BlockRun): BlockResult {
  const { out, text, done, failures } = run;
  const lines = run.inputs.length;
  // Into the shared memory when all of it fits there (a text longer than the memory cannot).
  if (out !== undefined && text.length <= out.length) {
    const { read, written } = encoder.encodeInto(text, out);
    if (read === text.length) return { bytes: out.subarray(0, written), lines, done, failures };
  }
  const bytes = encoder.encode(text);
  const result = { bytes, lines, done, failures };
  // move(): the bytes' buffer is the worker's to give (TextEncoder made it for them alone)
  Object.defineProperty(result, MOVE_BRAND, { value: [bytes.buffer], configurable: true });
  return result;
}

/**
 * Adds a line's value, or its values; false when the run stops (it could not be written), a
 * promise of that when the values come from an async iterable.
 */
function blockValue(run: BlockRun, i: number, value: unknown): boolean | Promise<boolean> {
  const values = valuesOf(value, run.flat);
  if (values !== undefined) {
    // All or none: the line's text joins the block's only once every value was taken.
    let text = '';
    const end = (problem: string | Error | undefined) => {
      if (problem === undefined) {
        run.text += text;
        return true;
      }
      const failure =
        typeof problem === 'string' ? { unwritable: problem } : { error: wireError(problem) };
      return !blockFailed(run, { line: i + 1, ...failure });
    };
    let taken: ReturnType<typeof takeValues>;
    try {
      taken = takeValues(values, (one) => {
        text += `${one}\n`;
      });
    } catch (error) {
      return end(asError(error));
    }
    return typeof taken === 'object' ? taken.then(end, (error) => end(asError(error))) : end(taken);
  }
  if (value === undefined) value = null;
  if (typeof value === 'function' || typeof value === 'symbol') {
    const message = `the result is a ${typeof value}, and ${typeof value}s cannot be cloned`;
    return !blockFailed(run, { line: i + 1, error: { name: 'DataCloneError', message } });
  }
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    return !blockFailed(run, { line: i + 1, unwritable: (error as Error).message });
  }
  run.text += `${text}\n`;
  return true;
}

/** Records a failed line; true when the block stops there. */
function blockFailed(run: BlockRun, failure: BlockFailure): boolean {
  run.failures ??= [];
  run.failures.push(failure);
  return run.stop;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function wireError(error: unknown): { name: string; message: string; stack?: string } {
  if (error instanceof Error) {
    return { name: error.name, message: error.message, stack: error.stack };
  }
  return { name: 'Error', message: String(error) };
}

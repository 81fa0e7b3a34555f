/**
 * The worker side of `rxpool map`'s line mode: the task wrapped so that a line of text goes in and
 * a line of JSON text comes out. The worker parses and stringifies, so the main thread moves
 * strings and never runs `JSON.parse` / `JSON.stringify` on a good line.
 *
 * Worker-side: nothing of the main side is loaded here.
 */
import { MOVE_BRAND } from '../pool/messages.js';

/**
 * `value`: each input is a line, its result the value's JSON text; `settle`: the end of a settled
 * record; `block-fail` / `block-skip`: each input is a {@link LineBlock} (see {@link jsonBlocks}).
 */
export type LineMode = 'value' | 'settle' | 'block-fail' | 'block-skip';

/** A line that is not JSON: the wrapper answers with this instead of throwing (nothing to retry). */
export interface NotJson {
  readonly notJson: string;
}

/** A result that `JSON.stringify` throws on (a bigint, a cycle): its message. */
export interface Unwritable {
  readonly unwritable: string;
}

/**
 * A line whose task returned an iterable (a generator, an async iterable; an array with `--flat`):
 * the JSON text of each of its values, one output line each (none for an empty one).
 */
export interface ManyLines {
  readonly many: string[];
}

/** What the main side gets for a line: its JSON text, or why there is none. */
export type LineResult = string | NotJson | Unwritable | ManyLines;

type Fn = (input: unknown) => unknown;

/**
 * `fn` over lines: parses the line, calls `fn`, and stringifies what it returns (`undefined` as
 * `null`). In `settle` mode the text is the end of a settled record, `"input":...,"value":...}`,
 * the input stringified before the call (the task may change it). A result that cannot be cloned
 * is returned as it is, so the worker fails it as it fails any uncloneable result.
 */
export function jsonLines(fn: Fn, mode: LineMode, splitArrays = false): Fn {
  if (mode === 'block-fail' || mode === 'block-skip') {
    return jsonBlocks(fn, mode === 'block-fail', splitArrays);
  }
  return (line) => {
    let input: unknown;
    try {
      input = JSON.parse(line as string);
    } catch (error) {
      return { notJson: (error as Error).message } satisfies NotJson;
    }
    const inputText = mode === 'settle' ? JSON.stringify(input) : undefined;
    const value = fn(input);
    if (value !== null && typeof value === 'object' && typeof (value as any).then === 'function') {
      return Promise.resolve(value).then((settled) => writtenAll(settled, inputText, splitArrays));
    }
    return writtenAll(value, inputText, splitArrays);
  };
}

/** A result's text, or its values' texts when it is an iterable (what `many` says). */
function writtenAll(value: unknown, inputText: string | undefined, splitArrays: boolean): unknown {
  const values = valuesOf(value, splitArrays);
  if (values === undefined) return written(value, inputText);
  const each = (all: unknown[]): unknown => {
    const many: string[] = [];
    for (const v of all) {
      const text = written(v, inputText);
      if (typeof text !== 'string') return text;
      many.push(text);
    }
    return { many } satisfies ManyLines;
  };
  return Array.isArray(values) ? each(values) : values.then(each);
}

/**
 * The values of a result that gives a line per value: a generator or another iterator, an async
 * iterable, and an array with `--flat`; `undefined` for any other result (one line). A string, a
 * Map or a Set is one value, as before.
 */
function valuesOf(
  value: unknown,
  splitArrays: boolean,
): unknown[] | Promise<unknown[]> | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) return splitArrays ? value : undefined;
  const source = value as Record<symbol | string, any>;
  if (typeof source[Symbol.asyncIterator] === 'function') {
    return (async () => {
      const all: unknown[] = [];
      for await (const v of source as AsyncIterable<unknown>) all.push(v);
      return all;
    })();
  }
  if (typeof source[Symbol.iterator] === 'function' && typeof source.next === 'function') {
    return Array.from(source as Iterable<unknown>);
  }
  return undefined;
}

function written(value: unknown, inputText: string | undefined): unknown {
  if (value === undefined) value = null;
  // A function or a symbol could not travel before: it still fails as an uncloneable result.
  if (typeof value === 'function' || typeof value === 'symbol') return value;
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    return { unwritable: (error as Error).message } satisfies Unwritable;
  }
  return inputText === undefined ? text : `"input":${inputText},"value":${text}}`;
}

/**
 * Lines as bytes: whole lines, each ended by `\n` (the last one of the input may not be). The
 * main side may hold them in a `SharedArrayBuffer`, so that they travel without a copy and stay
 * readable there (a block whose worker was lost runs again line by line).
 */
export interface LineBlock {
  readonly bytes: Uint8Array;
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
  readonly splitArrays: boolean;
  /** Each line's parsed value, {@link BLANK}, or a {@link NotParsed}. */
  readonly inputs: unknown[];
  readonly stop: boolean;
  text: string;
  done: number;
  failures: BlockFailure[] | undefined;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * `fn` over blocks of lines: the worker decodes the block, cuts it into lines as readline does
 * (at `\n`, `\r\n` and a lone `\r`), leaves blank lines out, and parses, runs and stringifies
 * each line, so that the main thread only moves bytes. A failed line is reported by its number in
 * the block; with `stop` (`--on-error fail`) the lines after it do not run.
 *
 * Every line of the block is parsed first, then each is run and its result stringified in turn:
 * `JSON.parse` in a loop of its own costs about a fifth less CPU than taking turns with the task
 * and `JSON.stringify` (bench/RESULTS.md). Parsing has no effect a task could see, and a result is
 * still stringified as soon as its task returns, before the next line runs.
 */
export function jsonBlocks(fn: Fn, stop: boolean, splitArrays = false): Fn {
  return (input) => {
    const whole = decoder.decode((input as LineBlock).bytes);
    const lines = whole.includes('\r') ? whole.split(/\r?\n|\r/) : whole.split('\n');
    // the empty rest after the last line end
    if (lines[lines.length - 1] === '') lines.pop();
    const inputs = parseLines(lines);
    return runBlock({ fn, splitArrays, inputs, stop, text: '', done: 0, failures: undefined }, 0);
  };
}

/** A blank line's place among a block's parsed lines. */
const BLANK = Symbol('blank line');

/** A line that is not JSON, among a block's parsed lines (`JSON.parse` gives no class instance). */
class NotParsed {
  constructor(readonly message: string) {}
}

/** Each line's value, {@link BLANK} for a blank line, or a {@link NotParsed}. */
function parseLines(lines: readonly string[]): unknown[] {
  const inputs = new Array<unknown>(lines.length);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const first = line.charCodeAt(0);
    if (!(first > 32 && first < 127) && line.trim() === '') {
      inputs[i] = BLANK;
      continue;
    }
    try {
      inputs[i] = JSON.parse(line);
    } catch (error) {
      inputs[i] = new NotParsed((error as Error).message);
    }
  }
  return inputs;
}

function runBlock(run: BlockRun, from: number): BlockResult | Promise<BlockResult> {
  const { fn, inputs } = run;
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
      value = fn(input);
      if (!isThenable(value)) {
        // An iterable's values, each a line (an async one is awaited below, as a promise is).
        const values = valuesOf(value, run.splitArrays);
        if (values !== undefined)
          value = Array.isArray(values) ? new Many(values) : values.then((all) => new Many(all));
      }
    } catch (error) {
      if (blockFailed(run, { line: i + 1, error: wireError(error) })) break;
      continue;
    }
    if (isThenable(value)) {
      return Promise.resolve(value).then(
        (settled) => {
          if (!blockValue(run, i, settled)) return finished(run);
          return runBlock(run, i + 1);
        },
        (error) => {
          if (blockFailed(run, { line: i + 1, error: wireError(error) })) return finished(run);
          return runBlock(run, i + 1);
        },
      );
    }
    if (!blockValue(run, i, value)) break;
  }
  return finished(run);
}

function finished(run: BlockRun): BlockResult {
  const bytes = encoder.encode(run.text);
  const result = { bytes, lines: run.inputs.length, done: run.done, failures: run.failures };
  // move(): the bytes' buffer is the worker's to give (TextEncoder made it for them alone)
  Object.defineProperty(result, MOVE_BRAND, { value: [bytes.buffer], configurable: true });
  return result;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as any).then === 'function';
}

/** An iterable's values, which a block writes as a line each. */
class Many {
  constructor(readonly values: unknown[]) {}
}

/** Adds a line's value (or its values); false when the run stops (one could not be written). */
function blockValue(run: BlockRun, i: number, value: unknown): boolean {
  if (value instanceof Many) {
    // All of the line's values, or none: a value that cannot be written fails the whole line.
    const texts: string[] = [];
    for (const v of value.values) {
      const text = blockText(v);
      if (typeof text !== 'string') return !blockFailed(run, { line: i + 1, ...text });
      texts.push(text);
    }
    for (const text of texts) run.text += `${text}\n`;
    return true;
  }
  const text = blockText(value);
  if (typeof text !== 'string') return !blockFailed(run, { line: i + 1, ...text });
  run.text += `${text}\n`;
  return true;
}

/** A value's JSON text, or why it has none. */
function blockText(
  value: unknown,
): string | Pick<BlockFailure, 'unwritable'> | Required<Pick<BlockFailure, 'error'>> {
  if (value === undefined) value = null;
  if (typeof value === 'function' || typeof value === 'symbol') {
    const message = `the result is a ${typeof value}, and ${typeof value}s cannot be cloned`;
    return { error: { name: 'DataCloneError', message } };
  }
  try {
    return JSON.stringify(value);
  } catch (error) {
    return { unwritable: (error as Error).message };
  }
}

/** Records a failed line; true when the block stops there. */
function blockFailed(run: BlockRun, failure: BlockFailure): boolean {
  run.failures ??= [];
  run.failures.push(failure);
  return run.stop;
}

function wireError(error: unknown): { name: string; message: string; stack?: string } {
  if (error instanceof Error) {
    return { name: error.name, message: error.message, stack: error.stack };
  }
  return { name: 'Error', message: String(error) };
}

/**
 * The worker side of `rxpool map`'s line mode: the task wrapped so that a line of text goes in and
 * a line of JSON text comes out. The worker parses and stringifies, so the main thread moves
 * strings and never runs `JSON.parse` / `JSON.stringify` on a good line.
 *
 * Worker-side: nothing of the main side is loaded here.
 */
import { MOVE_BRAND } from '../pool/messages.js';
import type { WorkerContext } from './context.js';

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
 * A line whose task gave many values (an iterator, an async iterable, an array with `--flat`):
 * the JSON text of each, in order; none for an empty one.
 */
export interface Many {
  readonly many: string[];
}

/** What the main side gets for a line: its JSON text, or its values' texts, or why there is none. */
export type LineResult = string | Many | NotJson | Unwritable;

type Fn = (input: unknown, context: WorkerContext) => unknown;

/**
 * `fn` over lines: parses the line, calls `fn`, and stringifies what it returns (`undefined` as
 * `null`). In `settle` mode the text is the end of a settled record, `"input":...,"value":...}`,
 * the input stringified before the call (the task may change it). A result that cannot be cloned
 * is returned as it is, so the worker fails it as it fails any uncloneable result.
 *
 * A result that stands for many values (see {@link valuesOf}; arrays too with `flat`) gives a
 * {@link Many}: every value is taken here, in the worker, before anything of the line is written,
 * so a line's values are written all or none (a failure after some values writes none of them,
 * and a retry cannot write a value twice).
 */
export function jsonLines(fn: Fn, mode: LineMode, flat = false): Fn {
  if (mode === 'block-fail' || mode === 'block-skip') {
    return jsonBlocks(fn, mode === 'block-fail', flat);
  }
  return (line, context) => {
    let input: unknown;
    try {
      input = JSON.parse(line as string);
    } catch (error) {
      return { notJson: (error as Error).message } satisfies NotJson;
    }
    const inputText = mode === 'settle' ? JSON.stringify(input) : undefined;
    const value = fn(input, context);
    if (value !== null && typeof value === 'object' && typeof (value as any).then === 'function') {
      return Promise.resolve(value).then((settled) => written(settled, inputText, flat));
    }
    return written(value, inputText, flat);
  };
}

function written(value: unknown, inputText: string | undefined, flat: boolean): unknown {
  const values = valuesOf(value, flat);
  if (values !== undefined) {
    const many: string[] = [];
    const end = (problem: string | undefined) =>
      problem === undefined
        ? ({ many } satisfies Many)
        : ({ unwritable: problem } satisfies Unwritable);
    const taken = takeValues(values, (text) => {
      many.push(inputText === undefined ? text : `"input":${inputText},"value":${text}}`);
    });
    return typeof taken === 'object' ? taken.then(end) : end(taken);
  }
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
  readonly context: WorkerContext;
  /** Each line's parsed value, {@link BLANK}, or a {@link NotParsed}. */
  readonly inputs: unknown[];
  readonly stop: boolean;
  /** Arrays are many values (`--flat`). */
  readonly flat: boolean;
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
export function jsonBlocks(fn: Fn, stop: boolean, flat = false): Fn {
  return (input, context) => {
    const whole = decoder.decode((input as LineBlock).bytes);
    const lines = whole.includes('\r') ? whole.split(/\r?\n|\r/) : whole.split('\n');
    // the empty rest after the last line end
    if (lines[lines.length - 1] === '') lines.pop();
    const inputs = parseLines(lines);
    return runBlock({ fn, context, inputs, stop, flat, text: '', done: 0, failures: undefined }, 0);
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
    if (value !== null && typeof value === 'object' && typeof (value as any).then === 'function') {
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
  const bytes = encoder.encode(run.text);
  const result = { bytes, lines: run.inputs.length, done: run.done, failures: run.failures };
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

/**
 * The values of a result that stands for many: an iterator (what a generator function returns,
 * `map.values()`), an async iterable (what an async generator function returns), or, with
 * `flat`, an array. `undefined`: the result is one value (a string, a plain object, a `Map`...).
 */
export function valuesOf(
  value: unknown,
  flat: boolean,
): Iterator<unknown> | AsyncIterator<unknown> | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) return flat ? value[Symbol.iterator]() : undefined;
  const v = value as {
    next?: unknown;
    [Symbol.iterator]?: unknown;
    [Symbol.asyncIterator]?: unknown;
  };
  if (typeof v[Symbol.asyncIterator] === 'function') {
    return (v as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  }
  if (typeof v[Symbol.iterator] === 'function' && typeof v.next === 'function') {
    return (v as Iterable<unknown>)[Symbol.iterator]();
  }
  return undefined;
}

/**
 * Takes every value of `values` and gives each one's JSON text to `add` (`undefined` as `null`).
 * Returns `undefined` when all were taken, or why one cannot be written (the iteration stops
 * there and the iterator is closed, so its `finally` blocks run); a promise of that for an async
 * iterator. What the iterator throws is thrown (or rejected).
 */
function takeValues(
  values: Iterator<unknown> | AsyncIterator<unknown>,
  add: (text: string) => void,
): string | undefined | Promise<string | undefined> {
  for (;;) {
    const step = values.next();
    if (isThenable(step)) return takeAsync(values as AsyncIterator<unknown>, step, add);
    const { done, value } = step as IteratorResult<unknown>;
    if (done) return undefined;
    const problem = addValue(value, add);
    if (problem !== undefined) {
      values.return?.();
      return problem;
    }
  }
}

async function takeAsync(
  values: AsyncIterator<unknown>,
  first: Promise<IteratorResult<unknown>>,
  add: (text: string) => void,
): Promise<string | undefined> {
  let step = first;
  for (;;) {
    const { done, value } = await step;
    if (done) return undefined;
    const problem = addValue(value, add);
    if (problem !== undefined) {
      await values.return?.();
      return problem;
    }
    step = values.next();
  }
}

/** Adds one value's JSON text; returns why it cannot be written, if it cannot. */
function addValue(value: unknown, add: (text: string) => void): string | undefined {
  if (value === undefined) value = null;
  if (typeof value === 'function' || typeof value === 'symbol') {
    return `a value is a ${typeof value}, which JSON cannot hold`;
  }
  try {
    add(JSON.stringify(value));
  } catch (error) {
    return (error as Error).message;
  }
  return undefined;
}

function isThenable(value: unknown): value is Promise<any> {
  return value !== null && typeof value === 'object' && typeof (value as any).then === 'function';
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

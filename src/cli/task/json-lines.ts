/**
 * `rxpool map`'s task line by line: the user's function wrapped so that a line of text goes in
 * and a line of JSON text comes out. The worker parses and stringifies, so the main thread moves
 * strings and never runs `JSON.parse` / `JSON.stringify` on a good line. Runs in a worker, loaded
 * through ./json-task.ts.
 */
import type { Fn } from './json-blocks.js';
import { isThenable, takeValues, valuesOf } from './values.js';

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
export function jsonLines(fn: Fn, settle: boolean, flat = false): Fn {
  return (line, context) => {
    let input: unknown;
    try {
      input = JSON.parse(line as string);
    } catch (error) {
      return { notJson: (error as Error).message } satisfies NotJson;
    }
    const inputText = settle ? JSON.stringify(input) : undefined;
    const value = fn(input, context);
    if (isThenable(value)) {
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
  // A function or a symbol is returned as it is, to fail as any result that cannot be cloned.
  if (typeof value === 'function' || typeof value === 'symbol') return value;
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    return { unwritable: (error as Error).message } satisfies Unwritable;
  }
  return inputText === undefined ? text : `"input":${inputText},"value":${text}}`;
}

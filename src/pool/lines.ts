/**
 * The worker side of `rxpool map`'s line mode: the task wrapped so that a line of text goes in and
 * a line of JSON text comes out. The worker parses and stringifies, so the main thread moves
 * strings and never runs `JSON.parse` / `JSON.stringify` on a good line.
 *
 * Worker-side and pure: imports only the clone check (no main-side code).
 */

import { findUncloneable } from './clone.js';

/** What a line's task gives back in `settle` mode besides the value: its input, as JSON. */
export type LineMode = 'value' | 'settle';

/** A line that is not JSON: the wrapper answers with this instead of throwing (nothing to retry). */
export interface NotJson {
  readonly notJson: string;
}

/** A result that `JSON.stringify` throws on (a bigint, a cycle): its message. */
export interface Unwritable {
  readonly unwritable: string;
}

/** What the main side gets for a line: its JSON text, or why there is none. */
export type LineResult = string | NotJson | Unwritable;

type Fn = (input: unknown) => unknown;

/**
 * `fn` over lines: parses the line, calls `fn`, and stringifies what it returns (`undefined` as
 * `null`). In `settle` mode the text is the end of a settled record, `"input":...,"value":...}`,
 * the input stringified before the call (the task may change it). A result that cannot be cloned
 * is returned as it is, so the worker fails it as it fails any uncloneable result.
 */
export function jsonLines(fn: Fn, mode: LineMode): Fn {
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
      return Promise.resolve(value).then((settled) => written(settled, inputText));
    }
    return written(value, inputText);
  };
}

function written(value: unknown, inputText: string | undefined): unknown {
  if (value === undefined) value = null;
  // What could not travel before (a function, a symbol) still fails as an uncloneable result.
  if (findUncloneable(value) !== undefined) return value;
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    return { unwritable: (error as Error).message } satisfies Unwritable;
  }
  return inputText === undefined ? text : `"input":${inputText},"value":${text}}`;
}

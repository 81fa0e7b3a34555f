/** The streams `rxpool map` works on: the process's own, or others in a test. */
import type { Readable, Writable } from 'node:stream';
import type { FileStdin } from './input.js';

export interface Io {
  readonly stdin: Readable | FileStdin;
  readonly stdout: Writable;
  readonly stderr: Writable & { readonly isTTY?: boolean };
}

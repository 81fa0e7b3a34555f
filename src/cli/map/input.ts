/**
 * `rxpool map`'s standard input, read for either path: the bytes read wait here until the path
 * takes them, and the path asks for more only while its window has room, so at most a read's worth
 * waits (or a line that goes on: one 50 MB line comes in many reads).
 */
import type { Readable } from 'node:stream';

export interface InputHooks {
  /** More was read, or the input ended: the path may take it. */
  ready(): void;
  /** Reading failed (`failure`): the lines read so far still run. */
  failed(): void;
}

export class Input {
  /** Read and not yet taken. */
  private chunks: Buffer[] = [];
  /** Bytes read and not yet taken. */
  size = 0;
  /** A line end is among the bytes not yet taken. */
  lineEnded = false;
  /** The input ended: all of it was read. */
  ended = false;
  /** Still reading: not stopped, not failed, not all taken. */
  reading = true;
  failure: Error | undefined;

  constructor(
    private readonly stream: Readable,
    hooks: InputHooks,
  ) {
    stream.on('data', (chunk: Buffer | string) => {
      if (!this.reading) return;
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      this.chunks.push(bytes);
      this.size += bytes.length;
      if (!this.lineEnded) this.lineEnded = bytes.lastIndexOf(10) !== -1;
      hooks.ready();
    });
    stream.on('end', () => {
      if (!this.reading) return;
      this.ended = true;
      hooks.ready();
    });
    stream.on('error', (error: Error) => {
      if (!this.reading) return;
      this.failure = error;
      this.reading = false;
      hooks.failed();
    });
  }

  /** The bytes read so far, taken. */
  take(): Buffer {
    const bytes =
      this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    this.chunks = [];
    this.size = 0;
    this.lineEnded = false;
    return bytes;
  }

  /** Gives back the end of what was taken (a line that goes on): it comes first next time. */
  giveBack(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.chunks.unshift(bytes);
    this.size += bytes.length;
  }

  /** Reads on. */
  more(): void {
    this.stream.resume();
  }

  /** Stops reading for now. */
  hold(): void {
    this.stream.pause();
  }

  /** All of the input was taken. */
  done(): void {
    this.reading = false;
  }

  /** Stops reading at once and for good; what was read and not taken is dropped. */
  stop(): void {
    if (!this.reading) return;
    this.reading = false;
    this.chunks = [];
    this.size = 0;
    this.stream.pause();
    this.stream.destroy();
  }
}

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

  /**
   * Where a block of whole lines of about `limit` bytes ends in what was read: after the last line
   * end within `limit` bytes, else after the first one past them (a long line); once the input
   * ended, all that is left if it fits.
   */
  cutAt(limit: number): number {
    if (this.ended && this.size <= limit) return this.size;
    let cut = 0;
    let offset = 0;
    for (const chunk of this.chunks) {
      if (offset >= limit) break;
      const at =
        chunk.length > 0 ? chunk.lastIndexOf(10, Math.min(chunk.length, limit - offset) - 1) : -1;
      if (at !== -1) cut = offset + at + 1;
      offset += chunk.length;
    }
    if (cut > 0) return cut;
    offset = 0;
    for (const chunk of this.chunks) {
      const from = limit - offset;
      const at = from < chunk.length ? chunk.indexOf(10, Math.max(0, from)) : -1;
      if (at !== -1) return offset + at + 1;
      offset += chunk.length;
    }
    // the input ended in a line without a line end
    return this.size;
  }

  /** Moves the first `into.length` bytes read into `into`: one copy, whatever the reads were. */
  moveInto(into: Uint8Array): void {
    let at = 0;
    while (at < into.length) {
      const chunk = this.chunks[0]!;
      const n = Math.min(chunk.length, into.length - at);
      into.set(n === chunk.length ? chunk : chunk.subarray(0, n), at);
      at += n;
      if (n === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(n);
    }
    this.size -= into.length;
    this.lineEnded = this.chunks.some((chunk) => chunk.lastIndexOf(10) !== -1);
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

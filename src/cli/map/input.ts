/**
 * `rxpool map`'s standard input, read for either path: the bytes read wait here until the path
 * takes them, and the path asks for more only while its window has room, so at most a read's worth
 * waits (or a line that goes on: one 50 MB line comes in many reads).
 *
 * A stream is read as it gives its chunks. A regular file ({@link FileStdin}) is read here, one
 * read each time the path asks for more, into memory the path gives: the blocks path gives its
 * block memory, so that a block of whole lines is read in place and goes to a worker as it is
 * (a stream's chunks are copied into block memory, several times the main thread's CPU of a
 * read in place).
 */
import { readSync } from 'node:fs';
import type { Readable } from 'node:stream';

/**
 * Standard input that is a regular file: read with `read(2)` at the file's own offset, as `cat`
 * reads it. A file is always ready, so a read returns at once (from the page cache, or the disk).
 */
export class FileStdin {
  constructor(readonly fd: number) {}
}

export interface InputHooks {
  /** More was read, or the input ended: the path may take it. */
  ready(): void;
  /** Reading failed (`failure`): the lines read so far still run. */
  failed(): void;
}

/** A file is read this much at a time into memory of its own, where the path gives none. */
const FILE_READ = 1 << 20;

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

  /** The stream read, or undefined for a {@link FileStdin}. */
  private readonly stream: Readable | undefined;
  /** The file read, or undefined for a stream. */
  private readonly fd: number | undefined;
  /** A read of the file is due (`more` was called and its turn has not come yet). */
  private readDue = false;

  /**
   * `memory`, for a file: where the next read goes, given the bytes not yet taken (`undefined`:
   * memory of its own). A read fills it after those bytes, so that {@link takeInto} can give a
   * block of whole lines where it was read.
   */
  constructor(
    source: Readable | FileStdin,
    private readonly hooks: InputHooks,
    private readonly memory?: (carried: number) => Uint8Array | undefined,
  ) {
    if (source instanceof FileStdin) {
      this.stream = undefined;
      this.fd = source.fd;
      return;
    }
    this.stream = source;
    source.on('data', (chunk: Buffer | string) => {
      if (!this.reading) return;
      this.add(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      hooks.ready();
    });
    source.on('end', () => {
      if (!this.reading) return;
      this.ended = true;
      hooks.ready();
    });
    source.on('error', (error: Error) => this.fail(error));
  }

  private add(bytes: Buffer): void {
    this.chunks.push(bytes);
    this.size += bytes.length;
    if (!this.lineEnded) this.lineEnded = bytes.lastIndexOf(10) !== -1;
  }

  private fail(error: Error): void {
    if (!this.reading) return;
    this.failure = error;
    this.reading = false;
    this.hooks.failed();
  }

  /** One read of the file: into the path's memory after the bytes not yet taken, if they fit. */
  private readFile(fd: number): void {
    if (!this.reading) return;
    try {
      const into = this.memory?.(this.size);
      if (into !== undefined) {
        const carried = this.size;
        const bytes = Buffer.from(into.buffer, into.byteOffset, into.length);
        for (let at = 0; at < carried; ) at += this.chunks.shift()!.copy(bytes, at);
        this.size = 0;
        this.lineEnded = false;
        const n = readSync(fd, bytes, carried, bytes.length - carried, null);
        if (carried + n > 0) this.add(bytes.subarray(0, carried + n));
        if (n === 0) this.ended = true;
      } else {
        const bytes = Buffer.allocUnsafeSlow(FILE_READ);
        const n = readSync(fd, bytes, 0, bytes.length, null);
        if (n > 0) this.add(bytes.subarray(0, n));
        else this.ended = true;
      }
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    this.hooks.ready();
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

  /**
   * The first `size` bytes read, in memory of `memory`'s: where a file's read put them when they
   * are there at the start of its memory, else copied into new memory. The bytes after them are
   * copied out of that memory (a block's memory is used again once its result is back).
   */
  takeInto(size: number, memory: (size: number) => Uint8Array): Uint8Array {
    const first = this.chunks[0]!;
    if (
      this.fd !== undefined &&
      first.byteOffset === 0 &&
      first.buffer instanceof SharedArrayBuffer &&
      size <= first.length
    ) {
      if (size < first.length) this.chunks[0] = Buffer.from(first.subarray(size));
      else this.chunks.shift();
      this.size -= size;
      this.lineEnded = this.chunks.some((chunk) => chunk.lastIndexOf(10) !== -1);
      return new Uint8Array(first.buffer, 0, size);
    }
    const bytes = memory(size);
    this.moveInto(bytes);
    return bytes;
  }

  /** Moves the first `into.length` bytes read into `into`: one copy, whatever the reads were. */
  private moveInto(into: Uint8Array): void {
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

  /** Reads on (a file: once, in a microtask, so that the path's `ready` runs after it returns). */
  more(): void {
    if (this.stream !== undefined) {
      this.stream.resume();
      return;
    }
    if (this.readDue) return;
    this.readDue = true;
    const fd = this.fd!;
    queueMicrotask(() => {
      this.readDue = false;
      this.readFile(fd);
    });
  }

  /** Stops reading for now (a file is read only when asked). */
  hold(): void {
    this.stream?.pause();
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
    this.stream?.pause();
    this.stream?.destroy();
  }
}

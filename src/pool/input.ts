/**
 * Reading the input of a pull face (`pool.imap`): an `Iterable` or an `AsyncIterable` read into
 * the engine only while its window has room, and closed when the face stops early.
 */
import type { Clock } from '../engine/clock.js';

/** What the reader feeds: the engine, seen from its source. */
export interface InputSink<In> {
  /** How many more inputs it takes now. */
  readonly room: number;
  push(input: In): void;
  /** The input has no more items. */
  end(): void;
  /** The input threw: the items it gave are still run, then the sink errors with `error`. */
  fail(error: unknown): void;
}

/**
 * How long a sync input is read at a time, in ms, before the event loop gets a turn: results come
 * back and go out while the window fills, instead of after the whole window (16,384 items by
 * default) was read, and a `break` is seen at once.
 */
const READ_SLICE_MS = 1;

export class InputReader<In> {
  private source: Iterator<In> | AsyncIterator<In> | undefined;
  private readonly isAsync: boolean;
  /** A read is under way: an async `next()`, or the next slice of a sync input is scheduled. */
  private reading = false;
  private nextSlice: ReturnType<typeof setImmediate> | undefined;

  /** Opens the input (calls its `[Symbol.asyncIterator]()` or `[Symbol.iterator]()`). */
  constructor(
    items: Iterable<In> | AsyncIterable<In>,
    private readonly clock: Clock,
  ) {
    this.isAsync = typeof (items as AsyncIterable<In>)[Symbol.asyncIterator] === 'function';
    this.source = this.isAsync
      ? (items as AsyncIterable<In>)[Symbol.asyncIterator]()
      : (items as Iterable<In>)[Symbol.iterator]();
  }

  /** Reads into `sink` while it has room: a sync input in slices, an async one item at a time. */
  read(sink: InputSink<In>): void {
    if (this.reading || !this.source) return;
    this.reading = true;
    if (this.isAsync) {
      (this.source as AsyncIterator<In>).next().then(
        (next) => {
          this.reading = false;
          if (this.source) this.take(sink, next);
        },
        (error) => {
          this.reading = false;
          if (this.source) this.failed(sink, error);
        },
      );
      return;
    }
    const source = this.source as Iterator<In>;
    let count = 0;
    let since: number | undefined;
    while (this.source && sink.room > 0) {
      // The clock is read every 16 items only: a steady-state read is one item.
      if ((++count & 15) === 0) {
        const now = this.clock.now();
        since ??= now;
        if (now - since >= READ_SLICE_MS) {
          this.nextSlice = setImmediate(() => {
            this.nextSlice = undefined;
            this.reading = false;
            this.read(sink);
          });
          return;
        }
      }
      let next: IteratorResult<In>;
      try {
        next = source.next();
      } catch (error) {
        this.failed(sink, error);
        break;
      }
      this.take(sink, next);
    }
    this.reading = false;
  }

  /** Closes the input; resolves once its own cleanup (a generator's `finally`) has run. */
  close(): Promise<void> {
    const source = this.source;
    this.source = undefined;
    if (this.nextSlice !== undefined) clearImmediate(this.nextSlice);
    this.nextSlice = undefined;
    if (!source?.return) return Promise.resolve();
    try {
      return Promise.resolve(source.return()).then(
        () => {},
        () => {},
      );
    } catch {
      // the input's own cleanup failed; nothing to report to
      return Promise.resolve();
    }
  }

  private take(sink: InputSink<In>, next: IteratorResult<In>): void {
    if (next.done) {
      this.source = undefined;
      sink.end();
    } else {
      sink.push(next.value);
    }
  }

  private failed(sink: InputSink<In>, error: unknown): void {
    this.source = undefined;
    sink.fail(error);
  }
}

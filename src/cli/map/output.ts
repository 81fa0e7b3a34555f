/**
 * `rxpool map`'s standard output: written as it comes, with the path told when it is full (results
 * then wait in the window, and a full window stops reading) and when it drained. When the reader
 * goes away (`| head`), the run ends quietly, as other filters do.
 */
import type { Writable } from 'node:stream';
import { ExitCode } from '../args.js';
import type { End } from './end.js';

export interface OutputHooks {
  /** Stdout is full: stop emitting results. */
  full(): void;
  /** Stdout drained: results may go on. */
  drained(): void;
  /** Stdout is gone (`EPIPE`) or failed: the run ends with this. */
  gone(end: End): void;
}

export class Output {
  /** Writes are waiting for `drain`. */
  full = false;
  private gone = false;

  constructor(
    private readonly stream: Writable,
    private readonly hooks: OutputHooks,
  ) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      this.gone = true;
      hooks.gone(
        error.code === 'EPIPE'
          ? { code: ExitCode.ok }
          : { code: ExitCode.failed, message: `cannot write the output: ${error.message}` },
      );
    });
  }

  /**
   * Writes `data`; `written` is called once the stream is done with it (so that its memory may be
   * used again), or at once when there is nothing to write or nowhere to write it.
   */
  write(data: string | Uint8Array, written?: () => void): void {
    if (data.length === 0 || this.gone) {
      written?.();
      return;
    }
    if (!this.stream.write(data, written) && !this.full) {
      this.full = true;
      this.hooks.full();
      this.stream.once('drain', () => {
        this.full = false;
        this.hooks.drained();
      });
    }
  }
}

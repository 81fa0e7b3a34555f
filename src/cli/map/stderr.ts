/**
 * `rxpool map`'s standard error: `rxpool: ...` messages, and on a terminal a progress line that
 * a message clears first.
 */
import type { Writable } from 'node:stream';

export class Stderr {
  /** A progress line is showing (not ended by a newline). */
  private shown = false;

  constructor(private readonly stream: Writable & { readonly isTTY?: boolean }) {}

  /** Whether progress lines are shown: standard error is a terminal. */
  get tty(): boolean {
    return this.stream.isTTY === true;
  }

  /** Writes `rxpool: message` on a line of its own. */
  report(message: string): void {
    if (this.shown) this.stream.write('\r\x1b[K');
    this.shown = false;
    this.stream.write(`rxpool: ${message}\n`);
  }

  /** The progress line, `rxpool: 12 done, 1 failed, 4500/s`; the final one ends its line. */
  progress(done: number, failed: number, rate: number, final: boolean): void {
    const failures = failed > 0 ? `, ${failed} failed` : '';
    const shown = `${rate >= 100 ? Math.round(rate) : rate.toFixed(1)}/s`;
    this.stream.write(`\r\x1b[Krxpool: ${done} done${failures}, ${shown}${final ? '\n' : ''}`);
    this.shown = !final;
  }

  /** Ends a progress line that is still showing. */
  endLine(): void {
    if (this.shown) this.stream.write('\n');
    this.shown = false;
  }
}

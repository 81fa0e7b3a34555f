/**
 * How a run of `rxpool map` ends, the same for both paths: the first end wins and stops the work
 * at once; a run that read its input to the end ends by what happened on the way; the pool is
 * closed (destroyed when the run failed) and the exit code given.
 */
import type { Pool } from '../../pool/pool.js';
import { ExitCode } from '../args.js';
import type { Stderr } from './stderr.js';

/** How to end: the exit code, and what to report on stderr. */
export interface End {
  readonly code: number;
  readonly message?: string;
}

/** The one end of a run: the first {@link Ending.finish} wins. */
export class Ending {
  /** Resolves with the end once the run finished. */
  readonly ended: Promise<End>;
  private settle!: (end: End) => void;
  private end: End | undefined;

  /** `stop` stops the run's work: reading, the work in flight. */
  constructor(private readonly stop: () => void) {
    this.ended = new Promise((resolve) => {
      this.settle = resolve;
    });
  }

  get finished(): boolean {
    return this.end !== undefined;
  }

  finish(end: End): void {
    if (this.end) return;
    this.end = end;
    this.stop();
    this.settle(end);
  }
}

/** What the path saw by the end of its input. */
export interface Seen {
  readonly readFailure: Error | undefined;
  /** `--on-error fail`, unordered: the first line found not JSON. */
  readonly notJson: { readonly message: string } | undefined;
  readonly skipped: number;
}

/** The end of a run whose work all finished. */
export function outcome(seen: Seen): End {
  if (seen.readFailure) {
    return { code: ExitCode.failed, message: `cannot read the input: ${seen.readFailure.message}` };
  }
  if (seen.notJson !== undefined) return { code: ExitCode.input, message: seen.notJson.message };
  if (seen.skipped > 0) {
    const count =
      seen.skipped === 1 ? '1 line failed and was' : `${seen.skipped} lines failed and were`;
    return { code: ExitCode.skipped, message: `${count} skipped` };
  }
  return { code: ExitCode.ok };
}

/**
 * Once the run ended: its message on stderr (or the progress line ended), `finalProgress` when it
 * succeeded, then the pool closed (destroyed after a failure: work in flight is dropped).
 */
export async function close(
  ending: Ending,
  pool: Pool,
  stderr: Stderr,
  finalProgress?: () => void,
): Promise<number> {
  const end = await ending.ended;
  if (end.message !== undefined) stderr.report(end.message);
  else stderr.endLine();
  const ok = end.code === ExitCode.ok || end.code === ExitCode.skipped;
  if (ok) finalProgress?.();
  await (ok ? pool.close() : pool.destroy());
  return end.code;
}

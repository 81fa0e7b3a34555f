/**
 * The second argument of every task: `{ state, signal, workerId, attempt, index }`. One object per
 * worker, reused for every item: the runner stores the item's position in its batch (one store per
 * item), and `index`, `attempt` and `signal` are read from it only when a task asks (getters), so
 * a task that ignores its context costs nothing more than the argument. A worker runs one item at
 * a time, so the object describes the item that runs while the task runs.
 */
import type { ItemSpan } from '../wire/work.js';

/** What an abort gives the signal: a `DOMException`, as `AbortSignal.timeout()` does. */
function abortReason(reason: 'cancel' | 'timeout'): DOMException {
  return reason === 'timeout'
    ? new DOMException('The attempt ran past its timeout', 'TimeoutError')
    : new DOMException('The attempt is no longer wanted', 'AbortError');
}

const NONE: readonly ItemSpan[] = [];

export class WorkerContext {
  /** What the pool's `setup` returned (or resolved to) in this worker; the tasks may change it. */
  state: unknown = undefined;
  /** @internal The position in its batch of the item running. */
  at = 0;
  /** @internal The id of the batch running (what an abort names). */
  batch = -1;
  /** @internal Where the batch's items come from. */
  spans: readonly ItemSpan[] = NONE;
  /** @internal Why the batch was aborted, once it was. */
  aborted: DOMException | undefined = undefined;
  private controller: AbortController | undefined = undefined;
  /** An abort of a batch that had not begun here yet (it came first). */
  private early: { batch: number; reason: 'cancel' | 'timeout' } | undefined = undefined;

  constructor(
    /** `threadId`, or the process's `pid` (a child process). */
    readonly workerId: number,
  ) {}

  /** The item's position in its source (a remote batch: in the producer's source). */
  get index(): number {
    let at = this.at;
    for (const span of this.spans) {
      if (at < span.count) return span.index + at;
      at -= span.count;
    }
    return at;
  }

  /** Which attempt of the item this is, from 1. */
  get attempt(): number {
    let at = this.at;
    for (const span of this.spans) {
      if (at < span.count) return span.attempt;
      at -= span.count;
    }
    return 1;
  }

  /** Aborted when the attempt is no longer wanted (unsubscribe, `timeout`, `destroy`, a signal). */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.aborted !== undefined) this.controller.abort(this.aborted);
    }
    return this.controller.signal;
  }

  /** @internal A batch starts. */
  begin(batch: number, spans: readonly ItemSpan[] | undefined): void {
    this.batch = batch;
    this.spans = spans ?? NONE;
    this.at = 0;
    this.aborted = undefined;
    this.controller = undefined;
    if (this.early !== undefined && this.early.batch === batch) {
      this.aborted = abortReason(this.early.reason);
    }
    this.early = undefined;
  }

  /** @internal The main side aborted batch `batch`: its signal fires (when it is the one running). */
  abort(batch: number, reason: 'cancel' | 'timeout'): void {
    if (batch > this.batch) this.early = { batch, reason };
    if (batch !== this.batch || this.aborted !== undefined) return;
    this.aborted = abortReason(reason);
    this.controller?.abort(this.aborted);
  }
}

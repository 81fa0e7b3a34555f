/**
 * The `transfer` option: the buffers that items move to a worker instead of copying. A moved
 * buffer is gone from this side, so an item whose buffers went cannot be sent again (a retry, or
 * a batch-mate's crash sending it back): this file remembers which went, and says why such an
 * item fails.
 */
import type { Transferable, TransferListItem } from '../types.js';

export class Transfers<In> {
  /** Indexes of the items whose buffers went to a worker, until they are emitted. */
  private readonly moved = new Set<number>();
  /** The transfer list of the batch being sent, once an item adds to it. */
  private list: TransferListItem[] | undefined;

  constructor(private readonly transfer: (input: In) => readonly Transferable[]) {}

  /**
   * Adds the buffers of item `index` to the batch's transfer list; returns why the item cannot go
   * instead (its buffers went already, or `transfer` threw).
   */
  collect(index: number, input: In): Error | undefined {
    if (this.moved.has(index)) return movedError();
    try {
      for (const item of this.transfer(input)) {
        // Shared memory is not moved (postMessage refuses it in a transfer list).
        if (item instanceof SharedArrayBuffer) continue;
        this.moved.add(index);
        this.list ??= [];
        this.list.push(item);
      }
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
    return undefined;
  }

  /** The transfer list collected for the batch being sent; the next batch starts a new one. */
  takeList(): TransferListItem[] | undefined {
    const list = this.list;
    this.list = undefined;
    return list;
  }

  /** Whether the buffers of item `index` went to a worker. */
  has(index: number): boolean {
    return this.moved.has(index);
  }

  /** Item `index` was emitted: nothing of it goes anywhere any more. */
  delete(index: number): void {
    this.moved.delete(index);
  }

  clear(): void {
    this.moved.clear();
    this.list = undefined;
  }
}

/** Why an item that failed an attempt after its `transfer` buffers moved was not retried. */
export const NOT_RETRIED =
  'Not retried: its `transfer` buffers went to the worker with this attempt and are gone from ' +
  'this side. To retry such items, share the memory (SharedArrayBuffer) or copy it (no `transfer`).';

/**
 * The cause of an item sent back to the queue after its buffers moved (its batch-mate crashed its
 * worker or timed out): it cannot be sent again.
 */
function movedError(): Error {
  const error = new Error(
    'The input cannot run again: its `transfer` buffers were moved to a worker by an earlier ' +
      'run of its batch, which did not finish, and are gone from this side. To run such items ' +
      'again, share the memory (SharedArrayBuffer) or copy it (no `transfer`).',
  );
  error.name = 'TransferredError';
  return error;
}

/**
 * The control rows of the thread runtime's batches: a block of cells in shared memory that every
 * thread worker gets at start, a row per batch out (which item runs, since when, which thread took
 * the batch, a cancel flag), so that a batch can be timed, stopped, or skipped while it waits
 * behind another on its link. A batch's row stays taken until its worker is done with it.
 */
import { ControlBlock, type ControlRef } from '../wire/messages.js';

export class ControlRows {
  /** The block every worker gets (tinypool's `workerData`). */
  readonly block: ControlBlock;
  private readonly free: number[] = [];

  constructor(rows: number) {
    this.block = ControlBlock.create(rows);
    for (let row = rows - 1; row >= 0; row--) this.free.push(row);
  }

  /** A free row of the block; when none is, a block of one row of its own. */
  take(): ControlRef {
    const row = this.free.pop();
    if (row !== undefined) return { row };
    return { row: 0, buffer: ControlBlock.create(1).buffer };
  }

  /** The block that holds `ref`'s row. */
  blockOf(ref: ControlRef): ControlBlock {
    return ref.buffer ? new ControlBlock(ref.buffer, 1) : this.block;
  }

  /** Its worker is done with `ref`'s row: it is free again (a block of its own is just dropped). */
  release(ref: ControlRef): void {
    if (ref.buffer) return;
    this.block.reset(ref.row);
    this.free.push(ref.row);
  }
}

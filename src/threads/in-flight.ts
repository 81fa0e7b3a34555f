/** A batch of the default executor, from `run` until it is reported and its worker is done. */
import type { ChildProcess } from 'node:child_process';
import type { BatchOutcome, ItemFailure, ValuesListener } from '../executor/contract.js';
import type { TransferListItem } from '../types.js';
import type { ControlBlock, ControlRef, LinkBatch } from '../wire/messages.js';

export interface InFlightBatch {
  readonly id: number;
  /**
   * What goes to the worker (with its id, for a link's reply); its control row and packed inputs
   * change if it moves to another link.
   */
  request: LinkBatch;
  readonly inputs: unknown[];
  transferList: TransferListItem[] | undefined;
  readonly count: number;
  /** The block that holds its control row, and the row (thread runtime). */
  control: ControlBlock | undefined;
  row: number;
  ref: ControlRef | undefined;
  /** Expected to run short enough to wait behind another batch on a link (see Placement). */
  readonly short: boolean;
  /** It can go to another link before it starts: it moves no buffers of the caller's. */
  readonly movable: boolean;
  /** When it was posted to its link (the placement clock). */
  postedAt: number;
  /** Process runtime: the child process it was handed to, and when (`performance.now()`). */
  child: ChildProcess | undefined;
  handedAt: number;
  /** Process runtime: what passing it to the child threw (see the worker host's relay). */
  unsent: unknown;
  /** A flat batch: where its values go as they come. */
  readonly values: ValuesListener | undefined;
  /** Process runtime: stops its task of the worker host (a batch that waits for a child). */
  cancel: (() => void) | undefined;
  /** Where its outcome goes (the Dispatcher), once: see `finish`. */
  readonly report: (outcome: BatchOutcome) => void;
  /** Its outcome was reported. */
  finished: boolean;
  /** `abort()` was called (a timeout: once its worker is being stopped). */
  aborted: boolean;
  /** Timed out: its worker is stopped after the replies and exits waiting to be read. */
  stopping: boolean;
  /** Its worker was asked to abort it (its tasks' `signal`), and why: its answer may still come. */
  abortedFor?: 'cancel' | 'timeout';
}

/** Reports a batch's outcome, the first time only. */
export function finish(batch: InFlightBatch, outcome: BatchOutcome): void {
  if (batch.finished) return;
  batch.finished = true;
  batch.report(outcome);
}

/** Why an item failed when its worker exited on its own with `code` (`process.exit`). */
export function exitError(code: number, worker = 'worker'): Error {
  const error = new Error(`The ${worker} exited with code ${code} while running this item`);
  error.name = 'WorkerExit';
  Object.assign(error, { exitCode: code });
  return error;
}

/** Every item of `batch` fails for good: no worker could start, for `error`. */
export function cannotStart(batch: InFlightBatch, error: Error): BatchOutcome {
  const failure: ItemFailure = { error, kind: 'crashed', retryable: false };
  return {
    type: 'done',
    values: [],
    failures: new Array(batch.count).fill(failure),
    count: batch.count,
    ms: 0,
  };
}

/**
 * The process runtime: one task of the worker host per batch, on a child process, stopped by the
 * task's signal. An item's time counts from when the batch was handed to a child (the host says
 * when), not while it waited for one (a worker being started to replace one that died).
 */
import type { ChildProcess } from 'node:child_process';
import type { BatchOutcome, RunningBatch } from '../../executor/contract.js';
import {
  type BatchResponse,
  type FlatControl,
  type FlatValues,
  isFlatMessage,
} from '../../pool/messages.js';
import type { InFlightBatch } from '../in-flight.js';
import type { WorkerHost } from '../worker-host.js';

/** What the thread pool does with what the child process answers. */
export interface ChildOutcomes {
  /** The batch is over (its outcome goes to the engine, once). */
  settle(batch: InFlightBatch, outcome: BatchOutcome): void;
  /** The outcome of a batch that ran. */
  done(response: BatchResponse): BatchOutcome;
  /** What became of a batch whose task failed. */
  failure(batch: InFlightBatch, error: unknown): BatchOutcome;
  /** Values of a flat batch, as the child sent them. */
  values(message: FlatValues): void;
}

/**
 * A flat batch's two-way channel with its child: what the child sends with `process.send` that
 * is not tinypool's comes to `postMessage`; `onMessage` gives the way to send to the child (the
 * shape of tinypool's public `channel` option of `run`). What is sent before the batch reaches a
 * child waits for it.
 */
function flatChannel(batch: InFlightBatch, outcomes: ChildOutcomes) {
  let toChild: ((message: unknown) => void) | undefined;
  let early: FlatControl[] = [];
  return {
    send(message: FlatControl): void {
      if (toChild) toChild(message);
      else early.push(message);
    },
    channel: {
      onMessage(listener: (message: unknown) => void): void {
        toChild = listener;
        for (const message of early) listener(message);
        early = [];
      },
      postMessage(message: unknown): void {
        if (isFlatMessage(message) && (message as FlatValues).flatKey === batch.id) {
          outcomes.values(message as FlatValues);
        }
      },
    },
  };
}

export function runInChild(
  host: WorkerHost,
  batch: InFlightBatch,
  outcomes: ChildOutcomes,
): RunningBatch {
  const controller = new AbortController();
  let stopping = false;
  const flat = batch.request.flat ? flatChannel(batch, outcomes) : undefined;
  host
    .run(batch.request, {
      signal: controller.signal,
      transferList: batch.transferList,
      channel: flat?.channel,
    })
    .then(
      (response) => outcomes.settle(batch, outcomes.done(response as BatchResponse)),
      (error: unknown) => {
        const { child } = batch;
        if (batch.aborted && child && !batch.finished) {
          // Stopped (a timeout): its child may have died on its own first, its exit not yet seen.
          // How the child ended tells: a death is a crash, not a timeout.
          exited(child).then(() => outcomes.settle(batch, ended(batch, child)));
        } else {
          outcomes.settle(batch, outcomes.failure(batch, error));
        }
      },
    );
  return {
    current: () =>
      batch.count === 1 && batch.handedAt !== 0
        ? { position: 0, elapsedMs: performance.now() - batch.handedAt }
        : undefined,
    // No cancel cell in a child process: a cancel stops it as a timeout does; a flat batch is
    // told to stop first (its iterator's `return()` runs there), and stopped if it does not
    // answer within the grace.
    abort: (reason) => {
      if (stopping || batch.finished) return;
      stopping = true;
      if (flat && reason === 'cancel' && batch.handedAt !== 0) {
        flat.send({ flatKey: batch.id, stop: true });
        setTimeout(() => {
          if (batch.finished) return;
          batch.aborted = true;
          controller.abort();
        }, FLAT_CANCEL_GRACE_MS).unref();
        return;
      }
      // A child's reply or exit that waits to be read (the main thread was busy, and timers come
      // before I/O in the event loop) is read first: an item that ended in time, or died, is not
      // reported as timed out. Two turns: the reply crosses a port once read.
      setImmediate(() =>
        setImmediate(() => {
          if (batch.finished) return;
          batch.aborted = true;
          controller.abort();
        }),
      );
    },
    grant: (position, count) => flat?.send({ flatKey: batch.id, position, grant: count }),
  };
}

/** As the thread runtime's (thread-pool.ts): time for a flat item's `return()` to run. */
const FLAT_CANCEL_GRACE_MS = 1_000;

/**
 * A batch stopped while its child process ran it, once that child has exited: it was stopped, or
 * it had died on its own (a crash, reported as such).
 */
function ended(batch: InFlightBatch, child: ChildProcess): BatchOutcome {
  if (child.signalCode !== null || child.exitCode === null) return { type: 'aborted' };
  const error = new Error(
    `The worker process exited with code ${child.exitCode} while running this item`,
  );
  error.name = 'WorkerExit';
  Object.assign(error, { exitCode: child.exitCode });
  return { type: 'crashed', error, position: batch.count === 1 ? 0 : undefined };
}

/** Resolves once `child` has exited (at once if it has). */
function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

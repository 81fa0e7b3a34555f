/**
 * The process runtime: one task of the worker host per batch, on a child process, stopped by the
 * task's signal. An item's time counts from when the batch was handed to a child (the host says
 * when), not while it waited for one (a worker being started to replace one that died).
 */
import type { ChildProcess } from 'node:child_process';
import type { BatchOutcome, RunningBatch } from '../../executor/contract.js';
import {
  type BatchResponse,
  type ChildMessage,
  type FlatControl,
  type FlatValues,
  isFlatMessage,
} from '../../wire/messages.js';
import { FLAT_CANCEL_GRACE_MS } from '../executor.js';
import { cannotStart, exitError, type InFlightBatch } from '../in-flight.js';
import type { WorkerHost } from '../worker-host.js';

/** What the process executor does with what the child process answers. */
export interface ChildOutcomes {
  /** The batch is over (its outcome goes to the engine, once). */
  settle(batch: InFlightBatch, outcome: BatchOutcome): void;
  /** The outcome of a batch that ran. */
  done(response: BatchResponse, batch: InFlightBatch): BatchOutcome;
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
  abortGrace: number,
  outcomes: ChildOutcomes,
): RunningBatch {
  const controller = new AbortController();
  batch.cancel = () => controller.abort();
  let stopping = false;
  const flat = batch.request.flat ? flatChannel(batch, outcomes) : undefined;
  host
    .run(batch.request, {
      signal: controller.signal,
      transferList: batch.transferList,
      channel: flat?.channel,
    })
    .then(
      (response) => outcomes.settle(batch, outcomes.done(response as BatchResponse, batch)),
      (error: unknown) => {
        const { child } = batch;
        // Handed to a child that died before it was ready: the task may fail first (its channel
        // closed) and the exit that says why come after.
        if (child && host.isStarting(child)) exited(child).then(() => failed(error));
        else failed(error);
      },
    );
  function failed(error: unknown): void {
    const { child } = batch;
    const code = child && host.exitCodeOf(child);
    const startError = child && host.startErrorOf(child);
    if (startError) {
      // Its child died before it was ready (the host handed it the batch all the same).
      outcomes.settle(batch, cannotStart(batch, startError));
    } else if (code !== undefined) {
      // Its child said it exits on its own: a crash, whatever stopped it since.
      outcomes.settle(batch, crashed(batch, exitError(code, 'worker process')));
    } else if (batch.aborted && child && !batch.finished) {
      // Stopped (a timeout): its child may have died on its own first, its exit not yet seen.
      // How the child ended tells: a death is a crash, not a timeout.
      exited(child).then(() => outcomes.settle(batch, ended(batch, child, host)));
    } else {
      outcomes.settle(batch, outcomes.failure(batch, error));
    }
  }
  return {
    current: () =>
      batch.count === 1 && batch.handedAt !== 0
        ? { position: 0, elapsedMs: performance.now() - batch.handedAt }
        : undefined,
    // No cancel cell in a child process: its tasks' signal fires there (an abort message on
    // tinypool's channel), and the child is stopped if the batch does not answer within the
    // grace. One not handed to a child yet leaves the host's queue at once. A flat batch is told
    // to stop too (its iterator's `return()` runs there).
    abort: (reason) => {
      if (stopping || batch.finished) return;
      stopping = true;
      // A child's reply or exit that waits to be read (the main thread was busy, and timers come
      // before I/O in the event loop) is read first: an item that ended in time, or died, is not
      // reported as timed out. Two turns: the reply crosses a port once read.
      setImmediate(() =>
        setImmediate(() => {
          if (batch.finished) return;
          // Its child is exiting on its own (however long it takes to go): its exit tells.
          if (batch.child && host.exitCodeOf(batch.child) !== undefined) return;
          batch.aborted = true;
          const { child } = batch;
          const message = { __rxpool__: 'abort', abort: batch.id, reason } as const;
          if (!child || !host.tell(child, message satisfies ChildMessage)) {
            controller.abort();
            return;
          }
          batch.abortedFor = reason;
          flat?.send({ flatKey: batch.id, stop: true });
          const grace = flat ? Math.max(FLAT_CANCEL_GRACE_MS, abortGrace) : abortGrace;
          const timer = setTimeout(() => {
            if (!batch.finished) controller.abort();
          }, grace);
          timer.unref();
        }),
      );
    },
    grant: (position, count) => flat?.send({ flatKey: batch.id, position, grant: count }),
  };
}

/**
 * A batch stopped while its child process ran it, once that child has exited: it was stopped, or
 * it had died on its own (a crash, reported as such).
 */
function ended(batch: InFlightBatch, child: ChildProcess, host: WorkerHost): BatchOutcome {
  const said = host.exitCodeOf(child);
  if (said !== undefined) return crashed(batch, exitError(said, 'worker process'));
  if (child.signalCode !== null || child.exitCode === null) return { type: 'aborted' };
  return crashed(batch, exitError(child.exitCode, 'worker process'));
}

function crashed(batch: InFlightBatch, error: Error): BatchOutcome {
  return { type: 'crashed', error, position: batch.count === 1 ? 0 : undefined };
}

/** Resolves once `child` has exited (at once if it has). */
function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}
